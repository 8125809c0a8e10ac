// /proxy/<server>/<path> in front of a real HTTP API (a node:http server in this
// process that records every request): authenticated like the MCP gateway, decided
// per method and path, the credential injected and the agent's own credentials never
// forwarded, both bodies streamed and bounded, and every decision and result audited.
// An answer that would hand the credential back to the agent is withheld.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { dpopProof } from '../src/client/agent-key.ts';
import { exchange, grantScenario, startMandate, subDelegate, type Harness, type Scenario } from './harness.ts';
import { startRecordingApi, type RecordingServer } from './fixtures/recording-http.ts';

const SECRET = 'api-key-5e1f0b9a7c3d2e4f6a8b';

let h: Harness;
let api: RecordingServer;
let credential: string;
let work: string;

type Event = Record<string, unknown> & { seq: number };
const lastSeq = async (): Promise<number> => ((await h.api('GET', '/api/v1/audit/events?limit=1')).body.events as Event[])[0]?.seq ?? 0;
const eventsAfter = async (seq: number): Promise<Event[]> => (await h.api('GET', `/api/v1/audit/events?after=${seq}&limit=200`)).body.events as Event[];

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'mandate-proxy-'));
  h = await startMandate();
  api = await startRecordingApi();
  const added = await h.api('POST', '/api/v1/servers', { body: { name: 'api', url: `${api.url}/v2`, kind: 'http-api' } });
  assert.equal(added.status, 201, JSON.stringify(added.body));
  assert.deepEqual([added.body.upstream, added.body.resource], [{ transport: 'http-api', url: `${api.url}/v2` }, `${h.url}/proxy/api`]);
  const created = await h.api('POST', '/api/v1/credentials', { body: { name: 'api-key', server: 'api', inject: { header: 'X-Api-Key' }, secret: SECRET } });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  credential = String(created.body.id);
});
after(async () => {
  await rm(work, { recursive: true, force: true });
  await h.close();
  await api.close();
});

interface Agent {
  scenario: Scenario;
  token: string;
}

async function agent(allow: string[], options: { maxCalls?: number } = {}): Promise<Agent> {
  const scenario = await grantScenario(h, { allow, maxCalls: options.maxCalls });
  const answer = await exchange(h, scenario, { resource: `${h.url}/proxy/api` });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return { scenario, token: String(answer.body.access_token) };
}

async function call(who: Agent | null, method: string, path: string, init: { body?: string; headers?: Record<string, string> } = {}) {
  const url = `${h.url}/proxy/api${path}`;
  const headers: Record<string, string> = { ...init.headers };
  if (who) {
    headers.authorization = `DPoP ${who.token}`;
    headers.dpop = dpopProof(who.scenario.key, method, url.split('?')[0] as string, who.token);
  }
  let response: Response;
  try {
    response = await fetch(url, { method, headers, body: init.body });
  } catch (error) {
    // An answer cut off before its first byte: the connection closes under the request.
    return { status: 0, headers: new Headers(), text: `broken: ${(error as Error).message}`, json: {} as Record<string, unknown> };
  }
  const text = await response.text().catch((error: Error) => `broken: ${error.message}`);
  return { status: response.status, headers: response.headers, text, json: (() => { try { return JSON.parse(text) as Record<string, unknown>; } catch { return {}; } })() };
}

async function run(args: string[], env: NodeJS.ProcessEnv): Promise<Record<string, unknown>> {
  const { stdout } = await promisify(execFile)(process.execPath, [new URL('../bin/mandate.js', import.meta.url).pathname, ...args], { env });
  return JSON.parse(stdout) as Record<string, unknown>;
}

/** The same, with the path exactly as written (no URL normalisation on the way). */
function rawCall(who: Agent, method: string, path: string): Promise<{ status: number; json: Record<string, unknown> }> {
  const target = `/proxy/api${path}`;
  return new Promise((resolve, reject) => {
    const { hostname, port } = new URL(h.url);
    const headers = { authorization: `DPoP ${who.token}`, dpop: dpopProof(who.scenario.key, method, `${h.url}${target}`, who.token) };
    const req = httpRequest({ hostname, port, path: target, method, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c: string) => { text += c; }).on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text || '{}') as Record<string, unknown> }));
    });
    req.once('error', reject).end();
  });
}

describe('the HTTP API proxy', () => {
  it('forwards an allowed request with the credential, never the agent\'s token, and audits it', async () => {
    const who = await agent(['api/GET:/repos/*', 'api/POST:/repos/*/issues']);
    const since = await lastSeq();
    const from = api.received.length;
    const got = await call(who, 'GET', '/repos/app?per_page=5', { headers: { 'x-http-method-override': 'DELETE', 'x-forwarded-for': '10.0.0.1', 'x-trace': 'kept' } });
    assert.equal(got.status, 200, got.text);
    assert.deepEqual(got.json, { method: 'GET', path: '/v2/repos/app', query: '?per_page=5', body_bytes: 0 });
    const posted = await call(who, 'POST', '/repos/app/issues', { body: JSON.stringify({ title: 'x'.repeat(5000) }), headers: { 'content-type': 'application/json' } });
    assert.equal(posted.status, 200, posted.text);
    assert.equal(posted.json.body_bytes, 5000 + '{"title":""}'.length);
    const [first, second] = api.received.slice(from);
    assert.equal(first?.headers['x-api-key'], SECRET);
    assert.equal(second?.headers['x-api-key'], SECRET);
    for (const seen of [first, second]) {
      assert.equal(seen?.headers.authorization, undefined);
      assert.equal(seen?.headers.dpop, undefined);
      assert.equal(seen?.headers['x-http-method-override'], undefined);
      assert.equal(seen?.headers['x-forwarded-for'], undefined);
      assert.ok(!JSON.stringify(seen?.headers).includes(who.token));
    }
    assert.equal(first?.headers['x-trace'], 'kept');
    const events = await eventsAfter(since);
    const gets = events.filter((e) => e.method === 'http/GET');
    // The decision comes before the credential's: the result names what was injected.
    assert.deepEqual(gets.map((e) => [e.kind, e.tool, e.decision, e.outcome, e.credentials]), [
      ['decision', '/repos/app', 'allow', null, null], ['result', '/repos/app', 'allow', 'ok', [credential]],
    ]);
    assert.deepEqual((gets[0]?.policies as string[]), ['mandate-names-endpoint']);
    assert.deepEqual(gets[0]?.arguments, { per_page: '5' });
    const use = events.find((e) => e.method === 'credential/use');
    assert.deepEqual([use?.decision, use?.tool, use?.credentials], ['allow', 'api-key', [credential]]);
    assert.equal(((await h.api('GET', `/api/v1/mandates/${who.scenario.mandateId}`)).body.calls_used), 2);
  });

  it('refuses what the mandate does not name, with problem+json, before anything leaves', async () => {
    const who = await agent(['api/GET:/repos/*']);
    const from = api.received.length;
    const since = await lastSeq();
    for (const [method, path] of [['DELETE', '/repos/app'], ['GET', '/repos/app/secrets'], ['GET', '/admin']]) {
      const got = await call(who, method as string, path as string);
      assert.equal(got.status, 403, got.text);
      assert.equal(got.headers.get('content-type'), 'application/problem+json');
      assert.equal(got.json.code, 'endpoint_outside_scope');
      assert.match(String(got.json.detail), new RegExp(`${method} ${path} on api is outside the scope of mandate mnd_`));
    }
    // fetch would resolve the dot segment itself: sent as written, with node:http.
    assert.equal((await rawCall(who, 'GET', '/repos/%2e%2e/admin')).json.code, 'invalid_path');
    assert.equal((await rawCall(who, 'GET', '/repos/./app')).json.code, 'invalid_path');
    assert.equal((await call(who, 'GET', '/repos//x')).json.code, 'invalid_path');
    assert.equal(api.received.length, from, 'nothing reached the upstream');
    const decisions = (await eventsAfter(since)).filter((e) => e.kind === 'decision');
    assert.deepEqual(decisions.map((e) => [e.method, e.decision, e.reason]), [
      ['http/DELETE', 'deny', 'endpoint_outside_scope'], ['http/GET', 'deny', 'endpoint_outside_scope'], ['http/GET', 'deny', 'endpoint_outside_scope'],
      ['http/GET', 'deny', 'invalid_path'], ['http/GET', 'deny', 'invalid_path'], ['http/GET', 'deny', 'invalid_path'],
    ]);
    // An encoded spelling of a path is decided as the path it is.
    const spelled = await call(who, 'GET', '/rep%6Fs/app');
    assert.equal(spelled.status, 200, spelled.text);
    assert.equal(spelled.json.path, '/v2/repos/app');
  });

  it('authenticates like the gateway: a DPoP-bound token for exactly this resource', async () => {
    const since = await lastSeq();
    const none = await call(null, 'GET', '/repos/app');
    assert.equal(none.status, 401);
    assert.equal(none.json.code, 'token_missing');
    assert.match(none.headers.get('www-authenticate') ?? '', /^DPoP algs="[^"]+", resource_metadata=".*\/.well-known\/oauth-protected-resource\/proxy\/api"$/);
    const meta = await h.api('GET', '/.well-known/oauth-protected-resource/proxy/api', { token: null });
    assert.equal(meta.body.resource, `${h.url}/proxy/api`);
    const who = await agent(['api/GET:/repos/*']);
    const replayed = `${h.url}/proxy/api/repos/app`;
    const proof = dpopProof(who.scenario.key, 'GET', replayed, who.token);
    const first = await fetch(replayed, { headers: { authorization: `DPoP ${who.token}`, dpop: proof } });
    assert.equal(first.status, 200);
    const again = await fetch(replayed, { headers: { authorization: `DPoP ${who.token}`, dpop: proof } });
    assert.equal(again.status, 401);
    assert.equal(((await again.json()) as { code: string }).code, 'dpop_replayed');
    // A token for the MCP gateway is not one for the proxy, and an HTTP API has no MCP resource.
    const mcp = await exchange(h, who.scenario, { resource: `${h.url}/mcp/api` });
    assert.equal(mcp.body.mandate_error, 'resource_unknown');
    assert.match(String(mcp.body.error_description), /api is an HTTP API: its resource is .*\/proxy\/api/);
    assert.equal((await fetch(`${h.url}/mcp/api`, { method: 'POST' })).status, 404);
    const refused = (await eventsAfter(since)).filter((e) => e.kind === 'authentication');
    assert.deepEqual(refused.map((e) => [e.server, e.reason]), [['api', 'token_missing'], ['api', 'dpop_replayed']]);
  });

  it('counts requests against the mandate\'s budget', async () => {
    const who = await agent(['api/*'], { maxCalls: 1 });
    assert.equal((await call(who, 'GET', '/anything')).status, 200);
    const over = await call(who, 'GET', '/anything');
    assert.equal(over.status, 403);
    assert.equal(over.json.code, 'mandate_exhausted');
  });

  it('lets an agent sub-delegate its proxy task token, narrowed, to another agent of the same owner', async () => {
    const who = await agent(['api/GET:/repos/*', 'api/POST:/repos/*/issues']);
    const sub = await grantScenario(h, { allow: ['fs/read_file'] });
    const delegated = await subDelegate(h, who.scenario.key, who.token, sub.key, { scope: 'api/GET:/repos/*' });
    assert.equal(delegated.status, 200, JSON.stringify(delegated.body));
    const traded = await exchange(h, { ...sub, mandateToken: String(delegated.body.access_token) }, { resource: `${h.url}/proxy/api` });
    assert.equal(traded.status, 200, JSON.stringify(traded.body));
    const child: Agent = { scenario: sub, token: String(traded.body.access_token) };
    assert.equal((await call(child, 'GET', '/repos/app')).status, 200);
    const refused = await call(child, 'POST', '/repos/app/issues', { body: '{}', headers: { 'content-type': 'application/json' } });
    assert.deepEqual([refused.status, refused.json.code], [403, 'endpoint_outside_scope'], 'the child holds only what was delegated');
  });

  it('relays the upstream\'s status, and withholds an answer that carries the credential', async () => {
    const who = await agent(['api/GET:/**']);
    const since = await lastSeq();
    const missing = await call(who, 'GET', '/status/404');
    assert.equal(missing.status, 404);
    const inHeader = await call(who, 'GET', '/header-back/x-api-key');
    assert.equal(inHeader.status, 502);
    assert.equal(inHeader.json.code, 'reply_carries_credential');
    const inBody = await call(who, 'GET', '/echo-header/x-api-key');
    assert.ok(!inBody.text.includes(SECRET), 'the body was cut off before the credential');
    const gzipped = await call(who, 'GET', '/gzip-header/x-api-key');
    assert.ok(!gzipped.text.includes(SECRET), 'a compressed answer is read too');
    const results = (await eventsAfter(since)).filter((e) => e.kind === 'result');
    assert.deepEqual(results.map((e) => [e.tool, e.outcome, e.reason]), [
      ['/status/404', 'error', 'upstream_status_404'], ['/header-back/x-api-key', 'denied', 'reply_carries_credential'],
      ['/echo-header/x-api-key', 'denied', 'reply_carries_credential'], ['/gzip-header/x-api-key', 'denied', 'reply_carries_credential'],
    ]);
  });

  it('is set up and used from the CLI: server add --kind http-api, and a task token for its proxy resource', async () => {
    const env = { ...process.env, MANDATE_URL: h.url, MANDATE_TOKEN: h.adminToken };
    const added = await run(['server', 'add', 'api2', '--url', `${api.url}/v3`, '--kind', 'http-api', '--json'], env);
    assert.deepEqual([(added.upstream as { transport: string }).transport, added.resource], ['http-api', `${h.url}/proxy/api2`]);
    const scenario = await grantScenario(h, { allow: ['api2/GET:/ping'] });
    const keyFile = join(work, 'agent.json');
    await writeFile(keyFile, JSON.stringify({ client_id: scenario.spiffeId, key: scenario.key.privateJwk }), { mode: 0o600 });
    const issued = await run(['token', '--mandate-token', scenario.mandateToken, '--key-file', keyFile, '--json'], env);
    assert.equal(issued.resource, `${h.url}/proxy/api2`);
    const wrong = await call({ scenario, token: String(issued.access_token) }, 'GET', '/ping');
    assert.deepEqual([wrong.status, wrong.json.code], [401, 'token_audience_mismatch'], 'a token for api2 is not one for api');
    const target = `${h.url}/proxy/api2/ping`;
    const answer = await fetch(target, { headers: { authorization: `DPoP ${String(issued.access_token)}`, dpop: dpopProof(scenario.key, 'GET', target, String(issued.access_token)) } });
    assert.equal(answer.status, 200);
    assert.equal(((await answer.json()) as { path: string }).path, '/v3/ping');
  });

  it('refuses an HTTP API server with a stdio credential, and an MCP server behind /proxy', async () => {
    const env = await h.api('POST', '/api/v1/credentials', { body: { name: 'api-env', server: 'api', inject: { env: 'TOKEN' }, secret: 'some-secret-value' } });
    assert.equal(env.status, 400);
    assert.equal(env.body.code, 'injection_unsupported');
    await grantScenario(h, {});
    const mcp = await fetch(`${h.url}/proxy/fs/x`);
    assert.equal(mcp.status, 404);
    assert.equal(((await mcp.json()) as { code: string }).code, 'not_an_http_api');
  });
});
