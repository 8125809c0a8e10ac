// Credentials injected by the gateway into real upstreams: a header on every request
// to a streamable-HTTP MCP server (one in this process, recording what it receives),
// a variable in the environment of a stdio MCP server started per session (it
// reports the variable's SHA-256, never its value). Each use is decided first
// (`credential/use`) and recorded by id; a denial refuses the session; what an
// upstream sends back carrying the credential never reaches the agent.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import type { StoredAuditEvent } from '../src/audit/event.ts';
import { explainLines } from '../src/audit/explain.ts';
import { connectToGateway } from '../src/client/mcp-client.ts';
import { GATEWAY_DENIED } from '../src/gateway/session.ts';
import { exchange, grantScenario, startMandate, type Harness } from './harness.ts';
import { startRecordingMcp, type RecordingServer } from './fixtures/recording-http.ts';

const HEADER_SECRET = 'mcp-upstream-token-7f3a9c1e5b2d4068';
const ENV_SECRET = 'env-secret-9d8c7b6a5f4e3d2c1b0a';
const ENV_SERVER = new URL('./fixtures/env-server.ts', import.meta.url).pathname;
const FLAGS = process.features.typescript ? [] : ['--experimental-strip-types', '--disable-warning=ExperimentalWarning'];
const sha256 = (value: string): string => createHash('sha256').update(value).digest('hex');

let h: Harness;
let upstream: RecordingServer;
let headerCredential: string;
let envCredential: string;
const logged: string[] = [];
const originalError = console.error;

type Event = Record<string, unknown> & { seq: number };
const lastSeq = async (): Promise<number> => ((await h.api('GET', '/api/v1/audit/events?limit=1')).body.events as Event[])[0]?.seq ?? 0;
const eventsAfter = async (seq: number): Promise<Event[]> => (await h.api('GET', `/api/v1/audit/events?after=${seq}&limit=200`)).body.events as Event[];

before(async () => {
  console.error = (...args: unknown[]) => {
    logged.push(args.map(String).join(' '));
    originalError(...args);
  };
  h = await startMandate();
  upstream = await startRecordingMcp();
  assert.equal((await h.api('POST', '/api/v1/servers', { body: { name: 'remote', url: upstream.url } })).status, 201);
  assert.equal((await h.api('POST', '/api/v1/servers', { body: { name: 'envy', command: process.execPath, args: [...FLAGS, ENV_SERVER, 'stdio'] } })).status, 201);
  const header = await h.api('POST', '/api/v1/credentials', { body: { name: 'remote-token', server: 'remote', inject: { header: 'Authorization', format: 'Bearer {secret}' }, secret: HEADER_SECRET } });
  assert.equal(header.status, 201, JSON.stringify(header.body));
  headerCredential = String(header.body.id);
  const env = await h.api('POST', '/api/v1/credentials', { body: { name: 'envy-token', server: 'envy', inject: { env: 'UPSTREAM_TOKEN' }, secret: ENV_SECRET } });
  assert.equal(env.status, 201, JSON.stringify(env.body));
  envCredential = String(env.body.id);
});
after(async () => {
  console.error = originalError;
  await h.close();
  await upstream.close();
});

async function connect(server: string, allow: string[]) {
  const scenario = await grantScenario(h, { allow });
  const answer = await exchange(h, scenario, { resource: `${h.url}/mcp/${server}` });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  const token = String(answer.body.access_token);
  return { scenario, token, client: () => connectToGateway(`${h.url}/mcp/${server}`, token, scenario.key, 'injection-test') };
}

describe('a header credential on a streamable-HTTP upstream', () => {
  it('is on every request the gateway makes upstream; the agent\'s own token never is', async () => {
    const from = upstream.received.length;
    const since = await lastSeq();
    const { client: open, token, scenario } = await connect('remote', ['remote/ping']);
    const client = await open();
    assert.deepEqual((await client.listTools()).tools.map((t) => t.name), ['ping']);
    assert.match(JSON.stringify((await client.callTool({ name: 'ping', arguments: {} })).content), /pong/);
    await client.close();
    const seen = upstream.received.slice(from);
    assert.ok(seen.length >= 4, `${seen.length} requests upstream`);
    for (const request of seen) {
      assert.equal(request.headers.authorization, `Bearer ${HEADER_SECRET}`, `${request.method} carried the credential`);
      assert.equal(request.headers.dpop, undefined);
      assert.ok(!JSON.stringify(request.headers).includes(token), 'the task token never goes upstream');
    }
    const events = await eventsAfter(since);
    const use = events.find((e) => e.method === 'credential/use');
    assert.deepEqual([use?.kind, use?.decision, use?.tool, use?.credentials, use?.policies, use?.mandate], ['decision', 'allow', 'remote-token', [headerCredential], ['mandate-covers-credential-server'], scenario.mandateId]);
    const calls = events.filter((e) => e.method === 'tools/call');
    assert.deepEqual(calls.map((e) => [e.kind, e.credentials]), [['decision', [headerCredential]], ['result', [headerCredential]]]);
    const [decision, result] = await Promise.all(calls.map((e) => h.app.store.getAuditEvent(e.seq))) as StoredAuditEvent[];
    const told = explainLines({ event: decision as StoredAuditEvent, decision, result, inclusion: { status: 'unavailable', message: 'not checked here' } });
    assert.ok(told.includes(`  credential  ${headerCredential} (injected upstream by the gateway; the secret is never recorded)`), told.join('\n'));
  });
});

describe('an environment credential on a stdio upstream', () => {
  it('is in the environment of the process started for the session, and nowhere the agent sees', async () => {
    const { client: open } = await connect('envy', ['envy/env-digest', 'envy/env-names']);
    const client = await open();
    const report = (await client.callTool({ name: 'env-digest', arguments: { name: 'UPSTREAM_TOKEN' } })).structuredContent as { set: boolean; sha256: string };
    assert.deepEqual(report, { set: true, sha256: sha256(ENV_SECRET) });
    const names = JSON.parse(((await client.callTool({ name: 'env-names', arguments: {} })).content as Array<{ text: string }>)[0]?.text ?? '[]') as string[];
    assert.ok(names.includes('UPSTREAM_TOKEN'));
    assert.ok(!names.some((n) => n === 'MANDATE_KEK' || n === 'MANDATE_KEK_PREVIOUS'), 'key material is never passed on');
    await client.close();
  });

  it('is withheld when the upstream answers with it, and scrubbed from the stderr lines logged', async () => {
    const since = await lastSeq();
    const { client: open } = await connect('envy', ['envy/leak-env', 'envy/print-env', 'envy/crash']);
    const client = await open();
    await assert.rejects(client.callTool({ name: 'leak-env', arguments: { name: 'UPSTREAM_TOKEN' } }), (error: unknown) => {
      assert.ok(error instanceof McpError);
      assert.equal(error.code, GATEWAY_DENIED);
      assert.equal((error.data as { code: string }).code, 'reply_carries_credential');
      assert.doesNotMatch(error.message, new RegExp(ENV_SECRET));
      return true;
    });
    const result = (await eventsAfter(since)).find((e) => e.kind === 'result' && e.tool === 'leak-env');
    assert.deepEqual([result?.outcome, result?.reason, result?.credentials], ['denied', 'reply_carries_credential', [envCredential]]);
    assert.match(JSON.stringify((await client.callTool({ name: 'print-env', arguments: { name: 'UPSTREAM_TOKEN' } })).content), /printed/);
    await client.callTool({ name: 'crash', arguments: {} }).catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const crash = logged.find((line) => line.includes('upstream envy') && line.includes('exited with code 3')) ?? '';
    assert.match(crash, /debug: UPSTREAM_TOKEN=\[REDACTED:injected_credential\]/);
    assert.ok(!logged.join('\n').includes(ENV_SECRET), 'no log line carries the secret');
    await client.close().catch(() => undefined);
  });
});

describe('a credential use the policy forbids', () => {
  it('refuses the session with a JSON-RPC error naming the reason, and starts nothing', async () => {
    const forbid = '@id("no-envy-token")\nforbid (principal, action == Action::"credential/use", resource is Credential) when { resource.name == "envy-token" };\n';
    assert.equal((await h.api('PUT', '/api/v1/policies/no-envy-token.cedar', { body: { text: forbid } })).status, 200);
    try {
      const since = await lastSeq();
      const sessions = h.app.gateway.sessionCount;
      const { client: open } = await connect('envy', ['envy/env-digest']);
      await assert.rejects(open(), (error: unknown) => {
        assert.ok(error instanceof McpError, String(error));
        assert.equal(error.code, GATEWAY_DENIED);
        assert.match(error.message, /credential envy-token of server envy may not be used for mandate mnd_.*forbidden by no-envy-token/);
        assert.deepEqual(error.data, { code: 'credential_use_denied', server: 'envy', method: 'credential/use' });
        return true;
      });
      const events = await eventsAfter(since);
      assert.deepEqual(events.filter((e) => e.kind === 'decision').map((e) => [e.method, e.decision, e.reason, e.policies, e.credentials]), [
        ['credential/use', 'deny', 'credential_use_denied', ['no-envy-token'], [envCredential]],
      ]);
      assert.equal(h.app.gateway.sessionCount, sessions, 'no session was opened');
    } finally {
      assert.equal((await h.api('DELETE', '/api/v1/policies/no-envy-token.cedar')).status, 200);
    }
  });
});
