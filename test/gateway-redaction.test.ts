// Secrets through the gateway, end to end: a real Mandate, a real MCP server behind it
// (test/fixtures/reply-server.ts), a real SDK client as the agent. A call's arguments
// are recorded as a redacted copy beside their digest, and the Cedar request recorded
// with the decision has its argument values redacted: the secret is nowhere in what
// Mandate stores. A reply carrying a secret passes and is recorded with its kinds; with
// blocking on, the agent gets a refusal and the reply never reaches it. The secrets
// here are made up, in the shapes of real ones.
import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CallToolResultSchema, McpError } from '@modelcontextprotocol/sdk/types.js';
import { argumentsDigest, type StoredAuditEvent } from '../src/audit/event.ts';
import { redactionMarker } from '../src/audit/redact.ts';
import { dpopProof } from '../src/client/agent-key.ts';
import { GATEWAY_DENIED } from '../src/gateway/session.ts';
import { prng } from '../src/lib/prng.ts';
import { exchange, grantScenario, startMandate, type Harness, type Scenario } from './harness.ts';

const FIXTURE = new URL('./fixtures/reply-server.ts', import.meta.url).pathname;
const FLAGS = process.features.typescript ? [] : ['--experimental-strip-types', '--disable-warning=ExperimentalWarning'];
const SERVER = 'vault';
/** A policy that reads arguments, so decisions record the arguments' views in their request. */
const READS_ARGUMENTS = `@id("no-drop-table")
forbid (principal, action == Action::"tools/call", resource)
when { context.arguments.hasTag("query") && context.arguments.getTag("query") like "*DROP TABLE*" };
`;

const random = prng(4711);
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const made = (alphabet: string, length: number): string => Array.from({ length }, () => alphabet[Math.floor(random() * alphabet.length)]).join('');
const AWS_KEY = `AKIA${made('ABCDEFGHIJKLMNOPQRSTUVWXYZ234567', 16)}`;
const PASSWORD = `pw-${made(ALNUM, 18)}`;
const NESTED_PASSWORD = `pw-${made(ALNUM, 18)}`;
const GITHUB_TOKEN = `ghp_${made(ALNUM, 36)}`;
const API_KEY = made(ALNUM, 12);

let h: Harness;
let scenario: Scenario;
let client: Client;
/** Every response body the agent received from the gateway, as text. */
const received: string[] = [];

before(async () => {
  h = await startMandate();
  const added = await h.api('POST', '/api/v1/servers', { body: { name: SERVER, command: process.execPath, args: [...FLAGS, FIXTURE] } });
  assert.equal(added.status, 201, JSON.stringify(added.body));
  await writeFile(join(h.dataDir, 'policies', 'redaction.cedar'), READS_ARGUMENTS);
  await h.app.reloadPolicies();
  scenario = await grantScenario(h, { allow: [`${SERVER}/echo`, `${SERVER}/reply`] });
  const answer = await exchange(h, scenario, { resource: `${h.url}/mcp/${SERVER}` });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  const token = String(answer.body.access_token);
  const resource = `${h.url}/mcp/${SERVER}`;
  const transport = new StreamableHTTPClientTransport(new URL(resource), {
    fetch: async (input, init) => {
      const headers = new Headers(init?.headers);
      headers.set('authorization', `DPoP ${token}`);
      headers.set('dpop', dpopProof(scenario.key, init?.method ?? 'GET', resource, token));
      const response = await fetch(input, { ...init, headers });
      if ((init?.method ?? 'GET') === 'POST') void response.clone().text().then((body) => received.push(body), () => undefined);
      return response;
    },
  });
  client = new Client({ name: 'redaction-test', version: '1.0.0' });
  await client.connect(transport);
  assert.deepEqual((await client.listTools()).tools.map((t) => t.name).sort(), ['echo', 'reply']);
});

after(async () => {
  await client?.close().catch(() => undefined);
  await h?.close();
});

const lastSeq = async (): Promise<number> => (await h.app.store.listAuditEvents({ limit: 1 }))[0]?.seq ?? 0;
const eventsAfter = (seq: number): Promise<StoredAuditEvent[]> => h.app.store.listAuditEvents({ afterSeq: seq, limit: 100 });

/** Every file under the data directory (the store, its WAL, keys, policies), whole. */
async function storedBytes(dir = h.dataDir): Promise<Buffer[]> {
  const found: Buffer[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...await storedBytes(path));
    else if (entry.isFile()) found.push(await readFile(path));
  }
  return found;
}

describe('secrets in arguments', () => {
  it('records a redacted copy of the arguments beside their digest, and the secrets are nowhere in the store', async () => {
    const args = { query: 'select * from keys', note: `rotate ${AWS_KEY} today`, password: PASSWORD, db: { host: 'db.internal', password: NESTED_PASSWORD }, limit: 10 };
    const from = await lastSeq();
    const result = await client.callTool({ name: 'echo', arguments: args });
    assert.deepEqual(result.content, [{ type: 'text', text: JSON.stringify(args) }], 'the call reached the upstream with its arguments as they were');

    const events = await eventsAfter(from);
    assert.deepEqual(events.map((e) => [e.kind, e.decision, e.outcome]), [['decision', 'allow', null], ['result', 'allow', 'ok']]);
    const [decision, outcome] = events as [StoredAuditEvent, StoredAuditEvent];
    assert.equal(decision.argumentsDigest, argumentsDigest(args));
    assert.equal(outcome.argumentsDigest, argumentsDigest(args));
    assert.deepEqual(decision.arguments, {
      query: 'select * from keys', note: `rotate ${redactionMarker('aws_access_key_id')} today`, password: redactionMarker('password'),
      db: { host: 'db.internal', password: redactionMarker('password') }, limit: 10,
    });
    assert.deepEqual(decision.secrets, ['aws_access_key_id', 'password']);
    assert.deepEqual(outcome.secrets, ['aws_access_key_id', 'password'], 'the echoed reply carried them');

    // The recorded Cedar request holds the arguments' views, redacted.
    const views = decision.request?.entities.find((e) => e.uid.type === 'Arguments');
    assert.ok(views?.tags, JSON.stringify(decision.request));
    assert.deepEqual({ ...views.tags }, {
      query: 'select * from keys', note: `rotate ${redactionMarker('aws_access_key_id')} today`, password: redactionMarker('password'),
      'db.host': 'db.internal', 'db.password': redactionMarker('password'),
    });

    const stored = JSON.stringify(await h.app.store.listAuditEvents({ afterSeq: 0, limit: 1000 }));
    for (const secret of [AWS_KEY, PASSWORD, NESTED_PASSWORD]) {
      assert.ok(!stored.includes(secret), `${secret.slice(0, 6)}… is not in any audit event`);
      for (const bytes of await storedBytes()) assert.equal(bytes.indexOf(secret), -1, `${secret.slice(0, 6)}… is not in any stored file`);
    }
  });

  it('records a refused call\'s arguments redacted too', async () => {
    const from = await lastSeq();
    await assert.rejects(client.callTool({ name: 'echo', arguments: { query: 'DROP TABLE users', token: GITHUB_TOKEN } }), (error: unknown) => {
      assert.ok(error instanceof McpError && error.code === GATEWAY_DENIED, String(error));
      return true;
    });
    const [decision] = await eventsAfter(from);
    assert.equal(decision?.decision, 'deny');
    assert.deepEqual(decision?.policies, ['no-drop-table']);
    assert.deepEqual(decision?.arguments, { query: 'DROP TABLE users', token: redactionMarker('secret_field') });
    assert.ok(!JSON.stringify(decision).includes(GITHUB_TOKEN));
  });
});

describe('secrets in replies', () => {
  const text = `config:\n  GITHUB_TOKEN=${GITHUB_TOKEN}\n  region: eu-west-1\n`;
  const structured = { api_key: API_KEY, region: 'eu-west-1' };

  it('passes a reply carrying a secret unchanged while blocking is off, recording the kinds it carries', async () => {
    assert.equal(h.app.gateway.blockSecretReplies, false, 'off by default');
    const from = await lastSeq();
    const result = await client.callTool({ name: 'reply', arguments: { text, structured } });
    assert.deepEqual(result.content, [{ type: 'text', text }]);
    assert.deepEqual(result.structuredContent, structured);
    const events = await eventsAfter(from);
    assert.deepEqual(events.map((e) => [e.kind, e.outcome, e.reason, e.secrets]), [
      ['decision', null, null, ['github_token', 'secret_field']],
      ['result', 'ok', null, ['github_token', 'secret_field']],
    ]);
  });

  it('with blocking on, answers a reply carrying a secret with a refusal naming its kinds, never the reply', async () => {
    h.app.gateway.blockSecretReplies = true;
    try {
      const from = await lastSeq();
      const bodies = received.length;
      await assert.rejects(client.request({ method: 'tools/call', params: { name: 'reply', arguments: { text, structured } } }, CallToolResultSchema), (error: unknown) => {
        assert.ok(error instanceof McpError, String(error));
        assert.equal(error.code, GATEWAY_DENIED);
        assert.match(error.message, /: denied: the reply of vault\/reply carries secrets \(github_token, secret_field\) and was withheld$/);
        assert.deepEqual(error.data, { code: 'reply_carries_secret', server: SERVER, method: 'tools/call', target: 'reply', secrets: ['github_token', 'secret_field'] });
        return true;
      });
      await new Promise((resolve) => setImmediate(resolve));
      const answers = received.slice(bodies).join('\n');
      assert.match(answers, /reply_carries_secret/, 'the refusal is what came back');
      for (const secret of [GITHUB_TOKEN, API_KEY]) assert.ok(!answers.includes(secret), `${secret.slice(0, 6)}… never reached the agent`);

      const events = await eventsAfter(from);
      assert.deepEqual(events.map((e) => [e.kind, e.decision, e.outcome, e.reason, e.secrets]), [
        ['decision', 'allow', null, null, ['github_token', 'secret_field']],
        ['result', 'allow', 'denied', 'reply_carries_secret', ['github_token', 'secret_field']],
      ]);

      // The session carries on: a reply without a secret passes, and one with only a
      // high-entropy token passes too, recorded as such.
      assert.deepEqual((await client.callTool({ name: 'reply', arguments: { text: 'nothing to hide' } })).content, [{ type: 'text', text: 'nothing to hide' }]);
      const randomId = made(ALNUM, 40);
      const next = await lastSeq();
      assert.deepEqual((await client.callTool({ name: 'reply', arguments: { text: `id ${randomId}` } })).content, [{ type: 'text', text: `id ${randomId}` }]);
      assert.deepEqual((await eventsAfter(next)).map((e) => [e.kind, e.outcome, e.secrets]), [['decision', null, ['high_entropy']], ['result', 'ok', ['high_entropy']]]);
    } finally {
      h.app.gateway.blockSecretReplies = false;
    }
  });
});
