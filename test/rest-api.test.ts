// The REST control plane, the OAuth endpoints and the operational endpoints over real
// HTTP, as a client sees them: problem+json for every kind of bad input (and no state
// change when refused), who may do what, discovery, health, metrics, the OpenAPI
// document, and revocation reaching the tokens already handed out.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { z } from 'zod';
import { API_ROUTES } from '../src/api/server.ts';
import { clientAssertion } from '../src/client/agent-key.ts';
import { CLIENT_ASSERTION_TYPE } from '../src/identity/client-auth.ts';
import { exchange, expectOAuthError, grantScenario, startMandate, type Harness, type Scenario } from './harness.ts';

let h: Harness;

before(async () => {
  h = await startMandate();
});
after(() => h.close());

interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

/** A request with full control over headers and body; the admin credential unless told otherwise. */
async function raw(method: string, path: string, init: { body?: string | ReadableStream<Uint8Array>; headers?: Record<string, string>; token?: string | null } = {}): Promise<Answer> {
  const token = init.token === undefined ? h.adminToken : init.token;
  const headers: Record<string, string> = { ...(token === null ? {} : { authorization: `Bearer ${token}` }), ...init.headers };
  const response = await fetch(`${h.url}${path}`, { method, headers, body: init.body, ...(init.body instanceof ReadableStream ? { duplex: 'half' } : {}) } as RequestInit);
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
}

const postJson = (path: string, body: string, token?: string | null): Promise<Answer> => raw('POST', path, { body, headers: { 'content-type': 'application/json' }, token });

/** An RFC 9457 problem with Mandate's stable `code`. */
function expectProblem(answer: Answer, status: number, code: string): void {
  const detail = JSON.stringify(answer.body);
  assert.equal(answer.status, status, detail);
  assert.equal(answer.headers.get('content-type'), 'application/problem+json', detail);
  assert.equal(answer.body.status, status, detail);
  assert.equal(answer.body.code, code, detail);
  assert.equal(answer.body.type, `urn:mandate:error:${code}`);
  assert.ok(typeof answer.body.title === 'string' && answer.body.title.length > 0);
  assert.ok(typeof answer.body.detail === 'string' && answer.body.detail.length > 0);
}

const userIds = async (): Promise<string[]> => ((await h.api('GET', '/api/v1/users')).body.users as Array<{ id: string }>).map((u) => u.id).sort();
const mandateIds = async (): Promise<string[]> => ((await h.api('GET', '/api/v1/mandates')).body.mandates as Array<{ id: string }>).map((m) => m.id).sort();
const agentIds = async (): Promise<string[]> => ((await h.api('GET', '/api/v1/agents')).body.agents as Array<{ id: string }>).map((a) => a.id).sort();
const mandateState = async (id: string): Promise<string> => String((await h.api('GET', `/api/v1/mandates/${id}`)).body.state);
const loginAs = async (id: string): Promise<string> => {
  if ((await h.api('GET', `/api/v1/users/${id}`)).status === 404) assert.equal((await h.api('POST', '/api/v1/users', { body: { id } })).status, 201);
  return String((await h.api('POST', `/api/v1/users/${id}/login`)).body.token);
};
const introspect = async (token: string) => (await h.form('/oauth/introspect', { token }, { authorization: `Bearer ${h.adminToken}` })).body;
const taskToken = async (s: Scenario): Promise<string> => {
  const answer = await exchange(h, s);
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return String(answer.body.access_token);
};

describe('bad input: a precise problem+json, and nothing changes', () => {
  it('refuses a body that is not valid JSON', async () => {
    const before = await userIds();
    expectProblem(await postJson('/api/v1/users', '{"id": "mallory",'), 400, 'invalid_json');
    assert.deepEqual(await userIds(), before);
  });

  it('refuses a body sent as another content type', async () => {
    const before = await userIds();
    expectProblem(await raw('POST', '/api/v1/users', { body: JSON.stringify({ id: 'mallory' }), headers: { 'content-type': 'text/plain' } }), 415, 'unsupported_media_type');
    expectProblem(await raw('POST', '/api/v1/users', { body: 'id=mallory', headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 415, 'unsupported_media_type');
    assert.deepEqual(await userIds(), before);
  });

  it('refuses fields the schema does not know, naming them', async () => {
    const before = await userIds();
    const answer = await postJson('/api/v1/users', JSON.stringify({ id: 'mallory', role: 'admin' }));
    expectProblem(answer, 400, 'invalid_body');
    assert.match(String(answer.body.detail), /role/);
    assert.deepEqual(await userIds(), before);
  });

  it('refuses missing required fields, naming them', async () => {
    const before = await agentIds();
    const answer = await postJson('/api/v1/agents', JSON.stringify({ name: 'half-bot', owner: 'alice' }));
    expectProblem(answer, 400, 'invalid_body');
    assert.match(String(answer.body.detail), /purpose/);
    expectProblem(await raw('POST', '/api/v1/users'), 400, 'invalid_body');
    assert.deepEqual(await agentIds(), before);
  });

  it('refuses a body over 64 KiB with 413, declared or streamed', async () => {
    const before = await userIds();
    const big = JSON.stringify({ id: 'big', name: 'x'.repeat(65 * 1024) });
    expectProblem(await postJson('/api/v1/users', big), 413, 'body_too_large');
    const encoded = new TextEncoder().encode(big);
    const streamed = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < encoded.length; i += 8192) controller.enqueue(encoded.slice(i, i + 8192));
        controller.close();
      },
    });
    expectProblem(await raw('POST', '/api/v1/users', { body: streamed, headers: { 'content-type': 'application/json' } }), 413, 'body_too_large');
    assert.deepEqual(await userIds(), before);
  });

  it('requires a valid credential: 401 with WWW-Authenticate', async () => {
    const before = await userIds();
    for (const token of [null, 'not-a-token', 'mandate_admin_forged', 'eyJhbGciOiJFUzI1NiJ9.e30.c2ln']) {
      const answer = await postJson('/api/v1/users', JSON.stringify({ id: 'mallory' }), token);
      expectProblem(answer, 401, answer.body.code as string);
      assert.match(String(answer.headers.get('www-authenticate')), /^Bearer\b/);
    }
    expectProblem(await raw('GET', '/api/v1/users', { token: null }), 401, 'token_missing');
    expectProblem(await raw('GET', '/api/v1/users', { token: 'mandate_admin_forged' }), 401, 'admin_credential_invalid');
    expectProblem(await raw('GET', '/api/v1/users', { token: null, headers: { authorization: 'Basic YWRtaW46YWRtaW4=' } }), 401, 'authorization_malformed');
    assert.deepEqual(await userIds(), before);
  });

  it('answers 401 with a challenge even when the refused token carries characters a header cannot', async () => {
    await grantScenario(h);
    const part = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
    for (const typ of ['line\nbreak', 'snow\u2603man']) {
      const forged = `${part({ alg: 'ES256', typ, kid: 'k' })}.${part({ sub: 'alice' })}.c2ln`;
      const controlPlane = await raw('GET', '/api/v1/whoami', { token: forged });
      expectProblem(controlPlane, 401, 'token_type_mismatch');
      assert.match(String(controlPlane.headers.get('www-authenticate')), /^Bearer error="invalid_token"/);
      const gateway = await fetch(`${h.url}/mcp/fs`, { method: 'POST', headers: { authorization: `DPoP ${forged}`, 'content-type': 'application/json' }, body: '{}' });
      assert.equal(gateway.status, 401);
      assert.equal(((await gateway.json()) as { error: string }).error, 'invalid_token');
      assert.match(String(gateway.headers.get('www-authenticate')), /^DPoP error="invalid_token"/);
    }
  });

  it('keeps admin routes from people: 403', async () => {
    const alice = await loginAs('alice');
    const before = await userIds();
    expectProblem(await postJson('/api/v1/users', JSON.stringify({ id: 'mallory' }), alice), 403, 'admin_required');
    expectProblem(await raw('GET', '/api/v1/users', { token: alice }), 403, 'admin_required');
    expectProblem(await raw('POST', '/api/v1/keys/rotate', { token: alice }), 403, 'admin_required');
    assert.deepEqual(await userIds(), before);
  });

  it('answers 404 for an unknown path and 405 with Allow for a wrong method', async () => {
    expectProblem(await raw('GET', '/api/v1/nothing-here'), 404, 'not_found');
    expectProblem(await raw('GET', '/nope', { token: null }), 404, 'not_found');
    const wrong = await raw('DELETE', '/api/v1/users');
    expectProblem(wrong, 405, 'method_not_allowed');
    assert.deepEqual(String(wrong.headers.get('allow')).split(/,\s*/).sort(), ['GET', 'POST']);
    const wrongOAuth = await raw('GET', '/oauth/token', { token: null });
    expectProblem(wrongOAuth, 405, 'method_not_allowed');
    assert.equal(wrongOAuth.headers.get('allow'), 'POST');
  });

  it('creates no mandate when a grant is refused', async () => {
    const s = await grantScenario(h);
    const before = await mandateIds();
    expectProblem(await postJson('/api/v1/mandates', JSON.stringify({ agent: s.agentId, purpose: 'x', allow: ['fs/read_file'], scope: 'everything' }), s.personToken), 400, 'invalid_body');
    expectProblem(await postJson('/api/v1/mandates', JSON.stringify({ agent: s.agentId, purpose: 'x', allow: [] }), s.personToken), 400, 'invalid_body');
    expectProblem(await postJson('/api/v1/mandates', '{"agent":', s.personToken), 400, 'invalid_json');
    expectProblem(await postJson('/api/v1/mandates', JSON.stringify({ agent: s.agentId, purpose: 'x', allow: ['fs/read_file'] })), 403, 'person_required');
    assert.deepEqual(await mandateIds(), before);
  });
});

describe('discovery, health, metrics, OpenAPI', () => {
  it('publishes authorization server metadata at both well-known addresses', async () => {
    for (const path of ['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration']) {
      const { status, body } = await raw('GET', path, { token: null });
      assert.equal(status, 200);
      assert.equal(body.issuer, h.url);
      assert.equal(body.token_endpoint, `${h.url}/oauth/token`);
      assert.equal(body.jwks_uri, `${h.url}/.well-known/jwks.json`);
      assert.equal(body.introspection_endpoint, `${h.url}/oauth/introspect`);
      assert.equal(body.revocation_endpoint, `${h.url}/oauth/revoke`);
      assert.ok((body.grant_types_supported as string[]).includes('urn:ietf:params:oauth:grant-type:token-exchange'));
      assert.ok((body.token_endpoint_auth_methods_supported as string[]).includes('private_key_jwt'));
      assert.ok((body.dpop_signing_alg_values_supported as string[]).includes('ES256'));
    }
    const jwks = await fetch(`${h.url}/.well-known/jwks.json`);
    assert.equal(jwks.status, 200);
    const keys = ((await jwks.json()) as { keys: Array<Record<string, unknown>> }).keys;
    assert.ok(keys.length > 0 && keys.every((k) => k.kty === 'EC' && k.alg === 'ES256' && typeof k.kid === 'string' && !('d' in k)));
  });

  it('answers health and readiness', async () => {
    const health = await raw('GET', '/healthz', { token: null });
    assert.equal(health.status, 200);
    assert.equal(health.body.status, 'ok');
    const ready = await raw('GET', '/readyz', { token: null });
    assert.equal(ready.status, 200);
    assert.equal(ready.body.status, 'ready');
    assert.equal(ready.body.store, 'sqlite');
  });

  it('serves Prometheus metrics counting requests', async () => {
    await fetch(`${h.url}/healthz`);
    const response = await fetch(`${h.url}/metrics`);
    assert.equal(response.status, 200);
    assert.match(String(response.headers.get('content-type')), /^text\/plain; version=0\.0\.4/);
    const text = await response.text();
    assert.match(text, /^# TYPE mandate_http_requests_total counter$/m);
    assert.match(text, /^mandate_http_requests_total\{method="GET",route="\/healthz",status="200"\} [1-9]\d*$/m);
  });

  it('documents every control-plane route in OpenAPI 3.1 with the schemas that validate', async () => {
    const answer = await raw('GET', '/api/v1/openapi.json', { token: null });
    assert.equal(answer.status, 200);
    const doc = answer.body as { openapi: string; paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: Record<string, unknown> }> } }>> };
    assert.equal(doc.openapi, '3.1.0');
    for (const route of API_ROUTES) {
      assert.ok(doc.paths[route.path]?.[route.method.toLowerCase()], `${route.method} ${route.path} is documented`);
    }
    const documented = Object.entries(doc.paths).flatMap(([path, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${path}`)).sort();
    assert.deepEqual(documented, API_ROUTES.map((r) => `${r.method} ${r.path}`).sort(), 'and nothing else');

    const schema = doc.paths['/api/v1/users']?.post?.requestBody?.content['application/json']?.schema;
    assert.equal(schema?.additionalProperties, false);
    const validating = API_ROUTES.find((r) => r.method === 'POST' && r.path === '/api/v1/users')?.body;
    assert.ok(validating);
    const { $schema: _ignored, ...generated } = z.toJSONSchema(validating, { io: 'input' }) as Record<string, unknown>;
    assert.deepEqual(schema, generated, 'the document is generated from the validating schema');
    // And the server refuses exactly what the document rules out.
    expectProblem(await postJson('/api/v1/users', JSON.stringify({ id: 'doc-extra', nickname: 'x' })), 400, 'invalid_body');
    assert.equal((await h.api('GET', '/api/v1/users/doc-extra')).status, 404);
  });
});

describe('agents', () => {
  it('lets a person add only agents they own', async () => {
    const bob = await loginAs('bob');
    await loginAs('alice');
    const before = await agentIds();
    expectProblem(await postJson('/api/v1/agents', JSON.stringify({ name: 'sneaky-bot', owner: 'alice', purpose: 'x' }), bob), 403, 'not_permitted');
    assert.deepEqual(await agentIds(), before);
    const own = await postJson('/api/v1/agents', JSON.stringify({ name: 'bobs-bot', owner: 'bob', purpose: 'triage' }), bob);
    assert.equal(own.status, 201);
    assert.equal((own.body.agent as { owner: string }).owner, 'bob');
  });

  it('revokes the active mandates of an agent that is retired', async () => {
    const s = await grantScenario(h);
    const second = await grantScenario(h);
    const token = await taskToken(s);
    const retired = await h.api('POST', `/api/v1/agents/${s.agentId}/retire`);
    assert.equal(retired.status, 200);
    assert.equal(retired.body.status, 'retired');
    const mandate = (await h.api('GET', `/api/v1/mandates/${s.mandateId}`)).body;
    assert.equal(mandate.state, 'revoked');
    assert.equal(mandate.reason, 'agent retired');
    assert.deepEqual(await introspect(token), { active: false });
    expectOAuthError(await exchange(h, s), 'invalid_client', 'agent_inactive');
    assert.equal(await mandateState(second.mandateId), 'active', 'other agents keep their mandates');
  });

  it('refuses token exchange for a suspended agent until it is reactivated', async () => {
    const s = await grantScenario(h);
    const token = await taskToken(s);
    assert.equal((await h.api('POST', `/api/v1/agents/${s.agentId}/suspend`)).body.status, 'suspended');
    expectOAuthError(await exchange(h, s), 'invalid_client', 'agent_inactive');
    assert.deepEqual(await introspect(token), { active: false });
    assert.equal(await mandateState(s.mandateId), 'active', 'suspension does not end the mandate');
    assert.equal((await h.api('POST', `/api/v1/agents/${s.agentId}/activate`)).body.status, 'active');
    assert.equal((await exchange(h, s)).status, 200);
  });
});

describe('mandates', () => {
  it('refuses a grant by a person who does not own the agent (default Cedar policy)', async () => {
    const s = await grantScenario(h);
    const bob = await loginAs('bob');
    const before = await mandateIds();
    const answer = await postJson('/api/v1/mandates', JSON.stringify({ agent: s.agentId, purpose: 'borrowed', allow: ['fs/read_file'] }), bob);
    expectProblem(answer, 403, 'grant_denied');
    assert.deepEqual(await mandateIds(), before);
  });

  it('refuses a TTL above the maximum, and an unknown server', async () => {
    const s = await grantScenario(h);
    const before = await mandateIds();
    const tooLong = await postJson('/api/v1/mandates', JSON.stringify({ agent: s.agentId, purpose: 'x', allow: ['fs/read_file'], ttl: h.config.mandateMaxTtl + 1 }), s.personToken);
    expectProblem(tooLong, 400, 'ttl_too_long');
    expectProblem(await postJson('/api/v1/mandates', JSON.stringify({ agent: s.agentId, purpose: 'x', allow: ['fs/read_file'], ttl: '9h' }), s.personToken), 400, 'ttl_too_long');
    expectProblem(await postJson('/api/v1/mandates', JSON.stringify({ agent: s.agentId, purpose: 'x', allow: ['nowhere/read_file'] }), s.personToken), 400, 'server_not_found');
    assert.deepEqual(await mandateIds(), before);
  });

  it('revokes every mandate an agent holds, given the agent id', async () => {
    const s = await grantScenario(h);
    const other = await grantScenario(h);
    const second = await h.api('POST', '/api/v1/mandates', { token: s.personToken, body: { agent: s.agentId, purpose: 'another task', allow: ['fs/read_file'] } });
    const secondId = (second.body.mandate as { id: string }).id;
    const token = await taskToken(s);
    const answer = await h.api('POST', '/api/v1/revocations', { body: { target: s.agentId, reason: 'key leaked' } });
    assert.equal(answer.status, 200);
    assert.equal(answer.body.kind, 'agent');
    assert.deepEqual((answer.body.revoked as string[]).sort(), [s.mandateId, secondId].sort());
    assert.equal(await mandateState(s.mandateId), 'revoked');
    assert.equal(await mandateState(secondId), 'revoked');
    assert.deepEqual(await introspect(token), { active: false });
    expectOAuthError(await exchange(h, s), 'invalid_grant', 'mandate_not_active');
    assert.equal(await mandateState(other.mandateId), 'active');
  });

  it('revokes every mandate a person granted, given the user id', async () => {
    await loginAs('dora');
    const d1 = await grantScenario(h, { person: 'dora' });
    const d2 = await grantScenario(h, { person: 'dora' });
    const someoneElse = await grantScenario(h, { person: 'alice' });
    const answer = await h.api('POST', '/api/v1/revocations', { body: { target: 'dora' } });
    assert.equal(answer.status, 200);
    assert.equal(answer.body.kind, 'person');
    assert.deepEqual((answer.body.revoked as string[]).sort(), [d1.mandateId, d2.mandateId].sort());
    expectOAuthError(await exchange(h, d2), 'invalid_grant', 'mandate_not_active');
    assert.equal(await mandateState(someoneElse.mandateId), 'active');
  });
});

describe('introspection and revocation endpoints', () => {
  const asAgent = (s: Scenario, params: Record<string, string>) => ({
    ...params, client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: clientAssertion(s.key, `${h.url}/oauth/token`),
  });

  it('refuse unauthenticated callers with 401 invalid_client', async () => {
    const s = await grantScenario(h);
    const token = await taskToken(s);
    for (const path of ['/oauth/introspect', '/oauth/revoke']) {
      const answer = await h.form(path, { token });
      assert.equal(answer.status, 401);
      assert.equal(answer.body.error, 'invalid_client');
      assert.match(String(answer.headers.get('www-authenticate')), /^Bearer\b/);
      const asPerson = await h.form(path, { token }, { authorization: `Bearer ${s.personToken}` });
      assert.equal(asPerson.status, 401);
      assert.equal(asPerson.body.error, 'invalid_client');
    }
    assert.equal((await introspect(token)).active, true, 'the refused revocation changed nothing');
  });

  it('let an agent introspect its own task token and nobody else\'s', async () => {
    const mine = await grantScenario(h);
    const theirs = await grantScenario(h);
    const token = await taskToken(mine);
    const own = await h.form('/oauth/introspect', asAgent(mine, { token }));
    assert.equal(own.status, 200);
    assert.equal(own.body.active, true);
    assert.equal(own.body.client_id, mine.spiffeId);
    assert.equal(own.body.mandate_id, mine.mandateId);
    const other = await h.form('/oauth/introspect', asAgent(theirs, { token }));
    assert.equal(other.status, 200);
    assert.deepEqual(other.body, { active: false });
  });

  it('revoke a task token (RFC 7009): introspection reports it inactive', async () => {
    const s = await grantScenario(h);
    const token = await taskToken(s);
    assert.equal((await introspect(token)).active, true);
    const revoked = await h.form('/oauth/revoke', { token }, { authorization: `Bearer ${h.adminToken}` });
    assert.equal(revoked.status, 200);
    assert.deepEqual(await introspect(token), { active: false });
    assert.equal(await mandateState(s.mandateId), 'active', 'only that token is revoked, not the mandate');
    assert.equal((await introspect(await taskToken(s))).active, true);
  });

  it('let an agent revoke its own task token', async () => {
    const s = await grantScenario(h);
    const token = await taskToken(s);
    assert.equal((await h.form('/oauth/revoke', asAgent(s, { token }))).status, 200);
    assert.deepEqual(await introspect(token), { active: false });
  });

  it('answer 200 when asked to revoke an unknown token', async () => {
    for (const token of ['not-a-token', 'eyJhbGciOiJFUzI1NiIsInR5cCI6ImF0K2p3dCJ9.e30.c2ln']) {
      const answer = await h.form('/oauth/revoke', { token }, { authorization: `Bearer ${h.adminToken}` });
      assert.equal(answer.status, 200);
    }
  });
});
