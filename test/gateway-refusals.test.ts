// Every way the gateway refuses a request, each with the precise error the agent gets
// and the audit event it leaves. A real Mandate, real upstreams (server-everything and
// the feature fixture over stdio), a real SDK client or raw HTTP with real DPoP proofs.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { dpopProof } from '../src/client/agent-key.ts';
import { connectToGateway } from '../src/client/mcp-client.ts';
import { GATEWAY_DENIED } from '../src/gateway/session.ts';
import { nowSeconds } from '../src/lib/clock.ts';
import { exchange, grantScenario, startMandate, type Harness, type Scenario } from './harness.ts';

const EVERYTHING = createRequire(import.meta.url).resolve('@modelcontextprotocol/server-everything/dist/index.js');
const FEATURES = new URL('./fixtures/feature-server.ts', import.meta.url).pathname;
const FLAGS = process.features.typescript ? [] : ['--experimental-strip-types', '--disable-warning=ExperimentalWarning'];

type Event = Record<string, unknown> & { seq: number; kind: string };
let h: Harness;

before(async () => {
  h = await startMandate();
  for (const body of [
    { name: 'everything', command: process.execPath, args: [EVERYTHING, 'stdio'], tools: [{ name: 'echo', sensitivity: 'public', effect: 'read', egress: 'internal' }] },
    { name: 'features', command: process.execPath, args: [...FLAGS, FEATURES, 'stdio'] },
    { name: 'prod-only', command: process.execPath, args: [EVERYTHING, 'stdio'], environment: 'prod', tools: [{ name: 'echo', sensitivity: 'public', effect: 'read' }] },
  ]) {
    const added = await h.api('POST', '/api/v1/servers', { body });
    assert.equal(added.status, 201, JSON.stringify(added.body));
  }
});
after(() => h.close());

const lastSeq = async (): Promise<number> => ((await h.api('GET', '/api/v1/audit/events?limit=1')).body.events as Event[])[0]?.seq ?? 0;
const eventsAfter = async (seq: number): Promise<Event[]> => (await h.api('GET', `/api/v1/audit/events?after=${seq}&limit=100`)).body.events as Event[];
const resource = (server: string) => `${h.url}/mcp/${server}`;

async function taskToken(s: Scenario, server: string): Promise<string> {
  const answer = await exchange(h, s, { resource: resource(server) });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return String(answer.body.access_token);
}

/** An initialize request over raw HTTP, as an agent would send it. */
const initialize = (server: string, headers: Record<string, string>) => fetch(resource(server), {
  method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
  body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } } }),
});

/** Asserts a 401 with its OAuth error, Mandate's reason and a challenge pointing at the resource metadata. */
async function expect401(response: Response, reason: string, error = 'invalid_token'): Promise<void> {
  const body = await response.json() as { error: string; mandate_error: string };
  assert.equal(response.status, 401, JSON.stringify(body));
  assert.equal(body.error, error);
  assert.equal(body.mandate_error, reason);
  assert.match(String(response.headers.get('www-authenticate')), /resource_metadata=".*\/\.well-known\/oauth-protected-resource\/mcp\//);
}

/** Asserts that exactly one event was recorded since `from`, an authentication refusal for `reason`. */
async function expectAuthAudit(from: number, server: string, reason: string): Promise<void> {
  assert.deepEqual((await eventsAfter(from)).map((e) => [e.kind, e.server, e.decision, e.reason, e.outcome]), [['authentication', server, 'deny', reason, 'denied']]);
}

/** Asserts a JSON-RPC refusal by the gateway with its stable code, and the decision recorded for it. */
async function expectDenied(call: Promise<unknown>, from: number, code: string, message: RegExp, target: string): Promise<void> {
  await assert.rejects(call, (error: unknown) => {
    assert.ok(error instanceof McpError, String(error));
    assert.equal(error.code, GATEWAY_DENIED);
    assert.equal((error.data as { code: string }).code, code);
    assert.match(error.message, message);
    return true;
  });
  const decisions = (await eventsAfter(from)).filter((e) => e.kind === 'decision');
  assert.deepEqual(decisions.map((e) => [e.tool, e.decision, e.reason, e.outcome]), [[target, 'deny', code, 'denied']]);
}

describe('the gateway refuses, precisely and on the record', () => {
  it('a request without a token', async () => {
    const from = await lastSeq();
    await expect401(await initialize('everything', {}), 'token_missing');
    await expectAuthAudit(from, 'everything', 'token_missing');
  });

  it('a token for another audience', async () => {
    const s = await grantScenario(h, { allow: ['everything/echo'] });
    const real = decodeJwt(await taskToken(s, 'everything'));
    const token = h.app.tokens.sign('task', { ...real, aud: 'https://elsewhere.example/mcp/everything', jti: `${String(real.jti)}-x` });
    const from = await lastSeq();
    await expect401(await initialize('everything', { authorization: `DPoP ${token}`, dpop: dpopProof(s.key, 'POST', resource('everything'), token) }), 'token_audience_mismatch');
    await expectAuthAudit(from, 'everything', 'token_audience_mismatch');
  });

  it('a token for server A used on server B', async () => {
    const s = await grantScenario(h, { allow: ['everything/echo', 'features/*'] });
    const token = await taskToken(s, 'features');
    const from = await lastSeq();
    await expect401(await initialize('everything', { authorization: `DPoP ${token}`, dpop: dpopProof(s.key, 'POST', resource('everything'), token) }), 'token_audience_mismatch');
    await expectAuthAudit(from, 'everything', 'token_audience_mismatch');
  });

  it('an expired token', async () => {
    const s = await grantScenario(h, { allow: ['everything/echo'] });
    const real = decodeJwt(await taskToken(s, 'everything'));
    const now = nowSeconds();
    const token = h.app.tokens.sign('task', { ...real, iat: now - 600, nbf: undefined, exp: now - 300, jti: `${String(real.jti)}-old` });
    const from = await lastSeq();
    await expect401(await initialize('everything', { authorization: `DPoP ${token}`, dpop: dpopProof(s.key, 'POST', resource('everything'), token) }), 'token_expired');
    await expectAuthAudit(from, 'everything', 'token_expired');
  });

  it('a replayed DPoP proof', async () => {
    const s = await grantScenario(h, { allow: ['everything/echo'] });
    const token = await taskToken(s, 'everything');
    const proof = dpopProof(s.key, 'POST', resource('everything'), token);
    const first = await initialize('everything', { authorization: `DPoP ${token}`, dpop: proof });
    assert.equal(first.status, 200);
    await first.body?.cancel();
    const from = await lastSeq();
    await expect401(await initialize('everything', { authorization: `DPoP ${token}`, dpop: proof }), 'dpop_replayed', 'invalid_dpop_proof');
    await expectAuthAudit(from, 'everything', 'dpop_replayed');
  });

  it('a revoked mandate, on its very next call', async () => {
    const s = await grantScenario(h, { allow: ['everything/echo'] });
    const token = await taskToken(s, 'everything');
    const client = await connectToGateway(resource('everything'), token, s.key, 'refusals');
    assert.match(JSON.stringify((await client.callTool({ name: 'echo', arguments: { message: 'before' } })).content), /before/);
    assert.equal((await h.api('POST', `/api/v1/mandates/${s.mandateId}/revoke`, { token: s.personToken, body: {} })).status, 200);
    const from = await lastSeq();
    await assert.rejects(client.callTool({ name: 'echo', arguments: { message: 'after' } }));
    await expectAuthAudit(from, 'everything', 'mandate_revoked');
    assert.deepEqual((await eventsAfter(from)).map((e) => [e.person, e.mandate, e.agents]), [['alice', s.mandateId, [s.spiffeId]]], 'the refusal says whose token it was');
    await expect401(await initialize('everything', { authorization: `DPoP ${token}`, dpop: dpopProof(s.key, 'POST', resource('everything'), token) }), 'mandate_revoked');
    await client.close().catch(() => undefined);
  });

  it('a suspended agent, on its very next call', async () => {
    const s = await grantScenario(h, { allow: ['everything/echo'] });
    const token = await taskToken(s, 'everything');
    const client = await connectToGateway(resource('everything'), token, s.key, 'refusals');
    await client.callTool({ name: 'echo', arguments: { message: 'before' } });
    assert.equal((await h.api('POST', `/api/v1/agents/${s.agentId}/suspend`)).status, 200);
    const from = await lastSeq();
    await assert.rejects(client.callTool({ name: 'echo', arguments: { message: 'after' } }));
    await expectAuthAudit(from, 'everything', 'agent_inactive');
    await client.close().catch(() => undefined);
  });

  it('a tool outside the scope, without calling the upstream', async () => {
    const s = await grantScenario(h, { allow: ['features/echo'] });
    const client = await connectToGateway(resource('features'), await taskToken(s, 'features'), s.key, 'refusals');
    const from = await lastSeq();
    await expectDenied(client.callTool({ name: 'count', arguments: { steps: 1 } }), from, 'tool_outside_scope', /features\/count is outside the scope of mandate mnd_/, 'count');
    await client.close();
  });

  it('a prompt and a resource outside the scope, and hides them from listings', async () => {
    const s = await grantScenario(h, { allow: ['features/echo'] });
    const client = await connectToGateway(resource('features'), await taskToken(s, 'features'), s.key, 'refusals');
    assert.deepEqual((await client.listPrompts()).prompts, []);
    assert.deepEqual((await client.listResources()).resources, []);
    let from = await lastSeq();
    await expectDenied(client.getPrompt({ name: 'greet', arguments: { name: 'alpha' } }), from, 'prompt_outside_scope', /features\/prompt:greet is outside the scope/, 'greet');
    from = await lastSeq();
    await expectDenied(client.readResource({ uri: 'feature://item/2' }), from, 'resource_outside_scope', /features resource feature:\/\/item\/2 is outside the scope/, 'feature://item/2');
    await client.close();
  });

  it('allows exactly the prompt a mandate names, and resources under resource:*', async () => {
    const s = await grantScenario(h, { allow: ['features/prompt:greet', 'features/resource:*'] });
    const client = await connectToGateway(resource('features'), await taskToken(s, 'features'), s.key, 'refusals');
    assert.deepEqual((await client.listPrompts()).prompts.map((p) => p.name), ['greet']);
    assert.ok((await client.getPrompt({ name: 'greet', arguments: { name: 'alpha' } })).messages.length > 0);
    assert.deepEqual((await client.readResource({ uri: 'feature://item/2' })).contents.map((c) => c.uri), ['feature://item/2']);
    assert.deepEqual((await client.listTools()).tools, [], 'no tool was granted');
    await client.close();
  });

  it('a server of another environment than the agent\'s', async () => {
    const s = await grantScenario(h, { allow: ['prod-only/echo'] });
    const client = await connectToGateway(resource('prod-only'), await taskToken(s, 'prod-only'), s.key, 'refusals');
    assert.deepEqual((await client.listTools()).tools, [], 'a dev agent sees nothing of a prod server');
    const from = await lastSeq();
    await expectDenied(client.callTool({ name: 'echo', arguments: { message: 'x' } }), from, 'forbidden_by_policy', /forbidden by environment-must-match/, 'echo');
    await client.close();
  });
});
