// The MCP gateway with a real MCP SDK client and a real MCP server from npm
// (@modelcontextprotocol/server-everything over stdio): authenticated per request,
// listings filtered to the mandate, calls outside it refused as JSON-RPC errors,
// revocation effective on the very next call.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { dpopProof } from '../src/client/agent-key.ts';
import { connectToGateway } from '../src/client/mcp-client.ts';
import { GATEWAY_DENIED } from '../src/gateway/session.ts';
import { exchange, freePort, grantScenario, startMandate, type Harness, type Scenario } from './harness.ts';

const EVERYTHING = createRequire(import.meta.url).resolve('@modelcontextprotocol/server-everything/dist/index.js');

let h: Harness;
let httpUpstream: ChildProcess;

/** server-everything in its streamable HTTP mode, as a separate process. */
async function startHttpUpstream(): Promise<string> {
  const port = await freePort();
  httpUpstream = spawn(process.execPath, [EVERYTHING, 'streamableHttp'], { env: { ...process.env, PORT: String(port) }, stdio: ['ignore', 'ignore', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    httpUpstream.stderr?.on('data', (d: Buffer) => {
      if (d.toString().includes('listening')) resolve();
    });
    httpUpstream.once('exit', (code) => reject(new Error(`server-everything exited with ${code}`)));
  });
  return `http://127.0.0.1:${port}/mcp`;
}

before(async () => {
  h = await startMandate();
  const added = await h.api('POST', '/api/v1/servers', {
    body: { name: 'everything', command: process.execPath, args: [EVERYTHING, 'stdio'], tools: [{ name: 'echo', sensitivity: 'public', effect: 'read', egress: 'internal' }] },
  });
  assert.equal(added.status, 201, JSON.stringify(added.body));
  const viaHttp = await h.api('POST', '/api/v1/servers', { body: { name: 'everything-http', url: await startHttpUpstream() } });
  assert.equal(viaHttp.status, 201, JSON.stringify(viaHttp.body));
});
after(async () => {
  await h.close();
  httpUpstream.kill();
});

interface Connected {
  client: Client;
  scenario: Scenario;
}

/** A real SDK client for a fresh (or given) mandate; every request carries the task token and a DPoP proof. */
async function connect(allow: string[], options: { maxCalls?: number; server?: string; scenario?: Scenario } = {}): Promise<Connected> {
  const server = options.server ?? 'everything';
  const scenario = options.scenario ?? await grantScenario(h, { allow, maxCalls: options.maxCalls });
  const answer = await exchange(h, scenario, { resource: `${h.url}/mcp/${server}` });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return { client: await connectToGateway(`${h.url}/mcp/${server}`, String(answer.body.access_token), scenario.key, 'gateway-test'), scenario };
}

describe('MCP gateway over a stdio upstream', () => {
  it('lists only the tools the mandate allows, and calls them', async () => {
    const { client } = await connect(['everything/echo']);
    const { tools } = await client.listTools();
    assert.deepEqual(tools.map((t) => t.name), ['echo']);
    const result = await client.callTool({ name: 'echo', arguments: { message: 'hello through the gateway' } });
    assert.match(JSON.stringify(result.content), /hello through the gateway/);
    await client.close();
  });

  it('passes the whole listing through for a server-wide mandate', async () => {
    const { client } = await connect(['everything/*']);
    const names = (await client.listTools()).tools.map((t) => t.name);
    assert.ok(names.includes('echo') && names.includes('get-sum') && names.length > 5, names.join(','));
    const sum = await client.callTool({ name: 'get-sum', arguments: { a: 2, b: 3 } });
    assert.match(JSON.stringify(sum.content), /5/);
    await client.close();
  });

  it('refuses a tool outside the scope with a JSON-RPC error naming why, without calling upstream', async () => {
    const { client } = await connect(['everything/echo']);
    await assert.rejects(client.callTool({ name: 'get-sum', arguments: { a: 1, b: 1 } }), (error: unknown) => {
      assert.ok(error instanceof McpError);
      assert.equal(error.code, GATEWAY_DENIED);
      assert.match(error.message, /everything\/get-sum is outside the scope of mandate mnd_/);
      assert.equal((error.data as { code: string }).code, 'tool_outside_scope');
      return true;
    });
    await client.close();
  });

  it('counts calls against the budget and refuses past it', async () => {
    const { client, scenario } = await connect(['everything/echo'], { maxCalls: 2 });
    await client.callTool({ name: 'echo', arguments: { message: '1' } });
    await client.callTool({ name: 'echo', arguments: { message: '2' } });
    await assert.rejects(client.callTool({ name: 'echo', arguments: { message: '3' } }), (error: unknown) => error instanceof McpError && (error.data as { code: string }).code === 'mandate_exhausted');
    assert.equal((await h.api('GET', `/api/v1/mandates/${scenario.mandateId}`)).body.calls_used, 2);
    await client.close();
  });

  it('stops a revoked mandate on its very next call', async () => {
    const { client, scenario } = await connect(['everything/echo']);
    await client.callTool({ name: 'echo', arguments: { message: 'before' } });
    assert.equal((await h.api('POST', `/api/v1/mandates/${scenario.mandateId}/revoke`, { token: scenario.personToken, body: {} })).status, 200);
    await assert.rejects(client.callTool({ name: 'echo', arguments: { message: 'after' } }), /mandate revoked|401/);
    await client.close().catch(() => undefined);
  });

  it('stops a suspended agent on its very next call', async () => {
    const { client, scenario } = await connect(['everything/echo']);
    assert.equal((await h.api('POST', `/api/v1/agents/${scenario.agentId}/suspend`)).status, 200);
    await assert.rejects(client.callTool({ name: 'echo', arguments: { message: 'after' } }), /agent inactive|401/);
    await client.close().catch(() => undefined);
  });
});

describe('MCP gateway over a streamable HTTP upstream', () => {
  it('filters, calls and refuses the same way', async () => {
    const { client } = await connect(['everything-http/echo', 'everything-http/get-sum'], { server: 'everything-http' });
    assert.deepEqual((await client.listTools()).tools.map((t) => t.name).sort(), ['echo', 'get-sum']);
    const result = await client.callTool({ name: 'get-sum', arguments: { a: 20, b: 22 } });
    assert.match(JSON.stringify(result.content), /42/);
    await assert.rejects(client.callTool({ name: 'get-env', arguments: {} }), (error: unknown) => error instanceof McpError && error.code === GATEWAY_DENIED);
    await client.close();
  });
});

describe('mandate call', () => {
  it('calls a tool through the gateway as the agent, and reports a refusal in one line', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mandate-call-'));
    const s = await grantScenario(h, { allow: ['everything/echo'] });
    const keyFile = join(dir, 'agent.json');
    await writeFile(keyFile, JSON.stringify({ client_id: s.spiffeId, key: s.key.privateJwk }), { mode: 0o600 });
    const token = String((await exchange(h, s, { resource: `${h.url}/mcp/everything` })).body.access_token);
    const bin = new URL('../bin/mandate.js', import.meta.url).pathname;
    const env = { ...process.env, MANDATE_URL: h.url };
    const { stdout } = await promisify(execFile)(process.execPath, [bin, 'call', 'everything', 'echo', '--args', '{"message":"from the cli"}', '--token', token, '--key-file', keyFile], { env });
    assert.match(stdout, /from the cli/);
    const refused = await promisify(execFile)(process.execPath, [bin, 'call', 'everything', 'get-env', '--token', token, '--key-file', keyFile], { env }).then(() => null, (e: { code: number; stderr: string }) => e);
    assert.ok(refused);
    assert.equal(refused.code, 1);
    assert.equal(refused.stderr.trim().split('\n').length, 1);
    assert.match(refused.stderr, /everything\/get-env is outside the scope .*\(tool_outside_scope\)/);
    await rm(dir, { recursive: true, force: true });
  });
});

describe('tools an upstream adds later', () => {
  it('refuses a tool that appeared after a server-wide mandate was granted, but not one it names', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mandate-late-'));
    const marker = join(dir, 'late-tool-offered');
    const fixture = new URL('./fixtures/late-tool-server.ts', import.meta.url).pathname;
    const flags = process.features.typescript ? [] : ['--experimental-strip-types', '--disable-warning=ExperimentalWarning'];
    assert.equal((await h.api('POST', '/api/v1/servers', { body: { name: 'growing', command: process.execPath, args: [...flags, fixture, marker] } })).status, 201);
    const first = await connect(['growing/*'], { server: 'growing' });
    assert.deepEqual((await first.client.listTools()).tools.map((t) => t.name), ['early']);
    await first.client.close();

    // Both mandates are granted while the upstream offers only `early`.
    const wide = await grantScenario(h, { allow: ['growing/*'] });
    const named = await grantScenario(h, { allow: ['growing/late'] });
    await new Promise((resolve) => setTimeout(resolve, 1100));
    await writeFile(marker, 'now the upstream offers late');

    const underWide = await connect([], { server: 'growing', scenario: wide });
    assert.deepEqual((await underWide.client.listTools()).tools.map((t) => t.name), ['early']);
    const from = ((await h.api('GET', '/api/v1/audit/events?limit=1')).body.events as Array<{ seq: number }>)[0]?.seq ?? 0;
    await assert.rejects(underWide.client.callTool({ name: 'late', arguments: {} }), (error: unknown) => {
      assert.ok(error instanceof McpError);
      assert.equal((error.data as { code: string }).code, 'tool_added_after_grant');
      assert.match(error.message, /growing\/late appeared after mandate mnd_/);
      return true;
    });
    const recorded = (await h.api('GET', `/api/v1/audit/events?after=${from}&limit=10`)).body.events as Array<Record<string, unknown>>;
    assert.deepEqual(recorded.map((e) => [e.kind, e.server, e.tool, e.decision, e.reason]), [['decision', 'growing', 'late', 'deny', 'tool_added_after_grant']]);
    assert.match(JSON.stringify((await underWide.client.callTool({ name: 'early', arguments: {} })).content), /early ran/);
    await underWide.client.close();

    const underNamed = await connect([], { server: 'growing', scenario: named });
    assert.deepEqual((await underNamed.client.listTools()).tools.map((t) => t.name), ['late']);
    assert.match(JSON.stringify((await underNamed.client.callTool({ name: 'late', arguments: {} })).content), /late ran/);
    await underNamed.client.close();

    const grantedLater = await connect(['growing/*'], { server: 'growing' });
    assert.deepEqual((await grantedLater.client.listTools()).tools.map((t) => t.name).sort(), ['early', 'late']);
    await grantedLater.client.close();
    await rm(dir, { recursive: true, force: true });
  });
});

describe('audit trail', () => {
  type Event = Record<string, unknown> & { seq: number; kind: string };
  const eventsAfter = async (seq: number): Promise<Event[]> => (await h.api('GET', `/api/v1/audit/events?after=${seq}&limit=100`)).body.events as Event[];
  const lastSeq = async (): Promise<number> => ((await h.api('GET', '/api/v1/audit/events?limit=1')).body.events as Event[])[0]?.seq ?? 0;

  it('records the decision and the result of an allowed call, with who, what and why', async () => {
    const { client, scenario } = await connect(['everything/echo']);
    const from = await lastSeq();
    await client.callTool({ name: 'echo', arguments: { message: 'audited' } });
    const events = (await eventsAfter(from)).filter((e) => e.tool === 'echo');
    assert.deepEqual(events.map((e) => [e.kind, e.decision, e.outcome]), [['decision', 'allow', null], ['result', 'allow', 'ok']]);
    const [decision, result] = events as [Event, Event];
    assert.equal(decision.person, 'alice');
    assert.deepEqual(decision.agents, [scenario.spiffeId]);
    assert.equal(decision.mandate, scenario.mandateId);
    assert.equal(decision.purpose, 'test task');
    assert.equal(decision.server, 'everything');
    assert.deepEqual(decision.policies, ['mandate-names-tool']);
    assert.equal(decision.policy_set_hash, h.app.policy().hash);
    assert.match(String(decision.arguments_digest), /^sha256:[0-9a-f]{64}$/);
    assert.equal(result.arguments_digest, decision.arguments_digest);
    assert.ok(typeof result.latency_ms === 'number' && result.latency_ms > 0);
    assert.deepEqual(decision.arguments, { message: 'audited' }, 'the decision keeps a redacted copy of the arguments (nothing to redact here)');
    assert.equal(result.arguments, undefined, 'the result names them by digest only');
    await client.close();
  });

  it('records a denied call with its reason', async () => {
    const { client } = await connect(['everything/echo']);
    const from = await lastSeq();
    await assert.rejects(client.callTool({ name: 'get-env', arguments: {} }));
    const events = await eventsAfter(from);
    assert.deepEqual(events.map((e) => [e.kind, e.tool, e.decision, e.reason, e.outcome]), [['decision', 'get-env', 'deny', 'tool_outside_scope', 'denied']]);
    await client.close();
  });

  it('records refused authentication', async () => {
    const from = await lastSeq();
    const response = await fetch(`${h.url}/mcp/everything`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.equal(response.status, 401);
    const events = await eventsAfter(from);
    assert.deepEqual(events.map((e) => [e.kind, e.server, e.decision, e.reason]), [['authentication', 'everything', 'deny', 'token_missing']]);
  });

  it('shows the trail readably with mandate audit tail', async () => {
    const bin = new URL('../bin/mandate.js', import.meta.url).pathname;
    const { stdout } = await promisify(execFile)(process.execPath, [bin, 'audit', 'tail', '--limit', '50'], { env: { ...process.env, MANDATE_URL: h.url, MANDATE_TOKEN: h.adminToken } });
    assert.match(stdout, /decision\s+alice ← agent\/bot-\w+\s+everything\/echo\s+allow/);
    assert.match(stdout, /result\s+alice ← agent\/bot-\w+\s+everything\/echo\s+ok in [\d.]+ ms/);
    assert.match(stdout, /decision\s+alice ← agent\/bot-\w+\s+everything\/get-env\s+deny \(tool_outside_scope\)/);
    assert.match(stdout, /authentication\s+unauthenticated\s+everything\s+deny \(token_missing\)/);
  });

  it('chains every event to the previous one', async () => {
    const events = (await h.api('GET', '/api/v1/audit/events?after=0&limit=1000')).body.events as Event[];
    assert.ok(events.length >= 4);
    assert.deepEqual(events.map((e) => e.seq), events.map((_e, i) => i + 1));
    assert.equal(new Set(events.map((e) => e.hash)).size, events.length);
  });
});

describe('gateway authentication', () => {
  const post = (headers: Record<string, string>) => fetch(`${h.url}/mcp/everything`, {
    method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } } }),
  });

  it('answers 401 without a token, pointing to the resource metadata', async () => {
    const response = await post({});
    assert.equal(response.status, 401);
    const challenge = String(response.headers.get('www-authenticate'));
    // No credential at all: the challenge names no error (RFC 6750 §3.1), only how to get one.
    assert.match(challenge, /^DPoP algs="ES256[^"]*", resource_metadata=/);
    assert.doesNotMatch(challenge, /error=/);
    assert.match(challenge, new RegExp(`resource_metadata="${h.url}/.well-known/oauth-protected-resource/mcp/everything"`));
    const metadata = (await h.api('GET', '/.well-known/oauth-protected-resource/mcp/everything', { token: null })).body;
    assert.equal(metadata.resource, `${h.url}/mcp/everything`);
    assert.deepEqual(metadata.authorization_servers, [h.url]);
    assert.equal(metadata.dpop_bound_access_tokens_required, true);
  });

  it('refuses a token issued for another server', async () => {
    const s = await grantScenario(h, { allow: ['fs/read_file'] });
    const token = String((await exchange(h, s)).body.access_token);
    const response = await post({ authorization: `DPoP ${token}`, dpop: dpopProof(s.key, 'POST', `${h.url}/mcp/everything`, token) });
    assert.equal(response.status, 401);
    assert.equal(((await response.json()) as { mandate_error: string }).mandate_error, 'token_audience_mismatch');
  });

  it('refuses a replayed DPoP proof and a proof by another key', async () => {
    const s = await grantScenario(h, { allow: ['everything/echo'] });
    const token = String((await exchange(h, s, { resource: `${h.url}/mcp/everything` })).body.access_token);
    const proof = dpopProof(s.key, 'POST', `${h.url}/mcp/everything`, token);
    const first = await post({ authorization: `DPoP ${token}`, dpop: proof });
    assert.equal(first.status, 200);
    await first.body?.cancel();
    const replay = await post({ authorization: `DPoP ${token}`, dpop: proof });
    assert.equal(replay.status, 401);
    assert.equal(((await replay.json()) as { mandate_error: string }).mandate_error, 'dpop_replayed');
    const other = await grantScenario(h);
    const stolen = await post({ authorization: `DPoP ${token}`, dpop: dpopProof(other.key, 'POST', `${h.url}/mcp/everything`, token) });
    assert.equal(stolen.status, 401);
    assert.equal(((await stolen.json()) as { mandate_error: string }).mandate_error, 'dpop_key_mismatch');
  });
});
