// The REST control plane and the operational endpoints over real HTTP: precise
// problem+json for every kind of bad input, no state change on refusal, who may do
// what, discovery, health, metrics and the generated OpenAPI document.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { API_ROUTES } from '../src/api/server.ts';
import { clientAssertion } from '../src/client/agent-key.ts';
import { exchange, grantScenario, startMandate, type Harness } from './harness.ts';

let h: Harness;

before(async () => {
  h = await startMandate();
});
after(() => h.close());

async function raw(method: string, path: string, init: { body?: string; headers?: Record<string, string> } = {}) {
  const response = await fetch(`${h.url}${path}`, { method, headers: { authorization: `Bearer ${h.adminToken}`, ...init.headers }, body: init.body });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
}

function expectProblem(answer: { status: number; headers: Headers; body: Record<string, unknown> }, status: number, code: string): void {
  assert.equal(answer.status, status, JSON.stringify(answer.body));
  assert.equal(answer.headers.get('content-type'), 'application/problem+json');
  assert.equal(answer.body.code, code, JSON.stringify(answer.body));
  assert.equal(answer.body.status, status);
  assert.equal(answer.body.type, `urn:mandate:error:${code}`);
  assert.equal(typeof answer.body.title, 'string');
  assert.equal(typeof answer.body.detail, 'string');
}

const userIds = async (): Promise<string[]> => ((await h.api('GET', '/api/v1/users')).body.users as Array<{ id: string }>).map((u) => u.id);

describe('bad input is a precise problem and changes nothing', () => {
  it('refuses invalid JSON', async () => {
    const before = await userIds();
    expectProblem(await raw('POST', '/api/v1/users', { body: '{"id": "x",', headers: { 'content-type': 'application/json' } }), 400, 'invalid_json');
    assert.deepEqual(await userIds(), before);
  });

  it('refuses a body that is not JSON', async () => {
    expectProblem(await raw('POST', '/api/v1/users', { body: 'id=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 415, 'unsupported_media_type');
  });

  it('refuses unknown fields, missing fields and wrong types, naming them', async () => {
    const before = await userIds();
    const unknown = await raw('POST', '/api/v1/users', { body: JSON.stringify({ id: 'eve', admin: true }), headers: { 'content-type': 'application/json' } });
    expectProblem(unknown, 400, 'invalid_body');
    assert.match(String(unknown.body.detail), /admin/);
    const missing = await h.api('POST', '/api/v1/agents', { body: { name: 'x', owner: 'nobody' } });
    assert.equal(missing.body.code, 'invalid_body');
    assert.match(String(missing.body.detail), /purpose/);
    const wrongType = await h.api('POST', '/api/v1/users', { body: { id: 42 } });
    assert.equal(wrongType.body.code, 'invalid_body');
    assert.match(String(wrongType.body.detail), /^id:/);
    assert.deepEqual(await userIds(), before);
  });

  it('refuses an oversized body with 413', async () => {
    const answer = await raw('POST', '/api/v1/users', { body: JSON.stringify({ id: 'big', name: 'x'.repeat(70 * 1024) }), headers: { 'content-type': 'application/json' } });
    expectProblem(answer, 413, 'body_too_large');
    assert.equal((await h.api('GET', '/api/v1/users/big')).status, 404);
  });

  it('refuses a person id that is not an id', async () => {
    expectProblem(await raw('POST', '/api/v1/users', { body: JSON.stringify({ id: '../etc' }), headers: { 'content-type': 'application/json' } }), 400, 'invalid_person_id');
  });

  it('answers 404 for unknown paths and 405 with Allow for wrong methods', async () => {
    expectProblem(await raw('GET', '/api/v1/nothing-here'), 404, 'not_found');
    const wrong = await raw('DELETE', '/api/v1/users');
    expectProblem(wrong, 405, 'method_not_allowed');
    assert.match(String(wrong.headers.get('allow')), /GET/);
    assert.match(String(wrong.headers.get('allow')), /POST/);
    expectProblem(await raw('GET', '/api/v1/users/%E0%A4%A'), 400, 'invalid_url');
  });
});

describe('authentication and authority', () => {
  it('requires a credential, and says how to send one', async () => {
    const none = await h.api('GET', '/api/v1/users', { token: null });
    assert.equal(none.status, 401);
    assert.equal(none.body.code, 'token_missing');
    assert.match(String(none.headers.get('www-authenticate')), /^Bearer /);
    assert.equal((await h.api('GET', '/api/v1/users', { token: 'mandate_admin_forged' })).body.code, 'admin_credential_invalid');
    assert.equal((await h.api('GET', '/api/v1/users', { token: 'not-a-token' })).status, 401);
  });

  it('keeps admin routes from people', async () => {
    const s = await grantScenario(h);
    const answer = await h.api('POST', '/api/v1/users', { token: s.personToken, body: { id: 'mallory' } });
    assert.equal(answer.status, 403);
    assert.equal(answer.body.code, 'admin_required');
    assert.equal((await h.api('GET', '/api/v1/users/mallory')).status, 404);
  });

  it('lets a person register only agents they own', async () => {
    await h.api('POST', '/api/v1/users', { body: { id: 'bob' } });
    const bob = String((await h.api('POST', '/api/v1/users/bob/login')).body.token);
    const forAlice = await h.api('POST', '/api/v1/agents', { token: bob, body: { name: 'sneaky', owner: 'alice', purpose: 'x' } });
    assert.equal(forAlice.status, 403);
    const own = await h.api('POST', '/api/v1/agents', { token: bob, body: { name: 'bobs-bot', owner: 'bob', purpose: 'x' } });
    assert.equal(own.status, 201);
    assert.match(String(own.body.enrollment_token), /^mandate_enroll_/);
    const visible = (await h.api('GET', '/api/v1/agents', { token: bob })).body.agents as Array<{ owner: string }>;
    assert.ok(visible.length > 0 && visible.every((a) => a.owner === 'bob'));
  });

  it('refuses a grant by anyone but the owner under the default policy, naming why', async () => {
    const s = await grantScenario(h);
    const bob = String((await h.api('POST', '/api/v1/users/bob/login')).body.token);
    const mandatesBefore = (await h.api('GET', '/api/v1/mandates')).body.mandates as unknown[];
    const answer = await h.api('POST', '/api/v1/mandates', { token: bob, body: { agent: s.agentId, purpose: 'borrowed', allow: ['fs/read_file'] } });
    assert.equal(answer.status, 403);
    assert.equal(answer.body.code, 'grant_denied');
    assert.match(String(answer.body.detail), /only the agent's owner/);
    assert.equal(((await h.api('GET', '/api/v1/mandates')).body.mandates as unknown[]).length, mandatesBefore.length);
  });

  it('refuses grants by the admin credential, past the maximum TTL, or on unknown servers', async () => {
    const s = await grantScenario(h);
    assert.equal((await h.api('POST', '/api/v1/mandates', { body: { agent: s.agentId, purpose: 'x', allow: ['fs/read_file'] } })).body.code, 'person_required');
    const long = await h.api('POST', '/api/v1/mandates', { token: s.personToken, body: { agent: s.agentId, purpose: 'x', allow: ['fs/read_file'], ttl: '9h' } });
    assert.equal(long.status, 400);
    assert.equal(long.body.code, 'ttl_too_long');
    const unknown = await h.api('POST', '/api/v1/mandates', { token: s.personToken, body: { agent: s.agentId, purpose: 'x', allow: ['nope/read'] } });
    assert.equal(unknown.body.code, 'server_not_found');
  });

  it('reports the policy that allowed a grant', async () => {
    const s = await grantScenario(h);
    const answer = await h.api('POST', '/api/v1/mandates', { token: s.personToken, body: { agent: s.agentId, purpose: 'second task', allow: ['fs/*'], ttl: '5m', max_calls: 3 } });
    assert.equal(answer.status, 201);
    assert.deepEqual((answer.body.decision as { policies: string[] }).policies, ['owner-may-grant']);
    assert.match(String((answer.body.decision as { policy_set_hash: string }).policy_set_hash), /^sha256:[0-9a-f]{64}$/);
    assert.equal((answer.body.mandate as { max_calls: number }).max_calls, 3);
  });
});

describe('revocation from the control plane', () => {
  it('retiring an agent revokes its mandates and it can no longer exchange', async () => {
    const s = await grantScenario(h);
    assert.equal((await h.api('POST', `/api/v1/agents/${s.agentId}/retire`)).status, 200);
    const mandate = (await h.api('GET', `/api/v1/mandates/${s.mandateId}`)).body;
    assert.equal(mandate.state, 'revoked');
    assert.equal(mandate.reason, 'agent retired');
    assert.equal((await exchange(h, s)).body.error, 'invalid_client');
    assert.equal((await h.api('POST', `/api/v1/agents/${s.agentId}/activate`)).body.code, 'agent_retired');
  });

  it('revokes every mandate an agent holds, or every mandate a person granted', async () => {
    const s = await grantScenario(h);
    const second = (await h.api('POST', '/api/v1/mandates', { token: s.personToken, body: { agent: s.agentId, purpose: 'more', allow: ['fs/read_file'] } })).body.mandate as { id: string };
    const byAgent = await h.api('POST', '/api/v1/revocations', { body: { target: s.agentId, reason: 'compromised' } });
    assert.equal(byAgent.body.kind, 'agent');
    assert.deepEqual((byAgent.body.revoked as string[]).sort(), [s.mandateId, second.id].sort());

    await h.api('POST', '/api/v1/users', { body: { id: 'carol' } });
    const c1 = await grantScenario(h, { person: 'carol' });
    const c2 = await grantScenario(h, { person: 'carol' });
    const byPerson = await h.api('POST', '/api/v1/revocations', { token: c1.personToken, body: { target: 'carol' } });
    assert.equal(byPerson.body.kind, 'person');
    assert.deepEqual((byPerson.body.revoked as string[]).sort(), [c1.mandateId, c2.mandateId].sort());
    assert.equal((await exchange(h, c2)).body.mandate_error, 'mandate_not_active');
  });

  it('lets only the grantor or the admin revoke a mandate', async () => {
    const s = await grantScenario(h);
    const bob = String((await h.api('POST', '/api/v1/users/bob/login')).body.token);
    assert.equal((await h.api('POST', `/api/v1/mandates/${s.mandateId}/revoke`, { token: bob, body: {} })).status, 403);
    assert.equal((await h.api('GET', `/api/v1/mandates/${s.mandateId}`)).body.state, 'active');
    assert.equal((await h.api('POST', `/api/v1/mandates/${s.mandateId}/revoke`, { token: s.personToken, body: {} })).status, 200);
    const twice = await h.api('POST', `/api/v1/mandates/${s.mandateId}/revoke`, { token: s.personToken, body: {} });
    assert.equal(twice.status, 409);
    assert.equal(twice.body.code, 'mandate_not_active');
  });
});

describe('introspection and revocation endpoints', () => {
  const form = (path: string, params: Record<string, string>, bearer?: string) =>
    h.form(path, params, bearer ? { authorization: `Bearer ${bearer}` } : {});

  it('require an authenticated caller', async () => {
    const answer = await form('/oauth/introspect', { token: 'x' });
    assert.equal(answer.status, 401);
    assert.equal(answer.body.error, 'invalid_client');
    const person = await grantScenario(h);
    assert.equal((await form('/oauth/introspect', { token: 'x' }, person.personToken)).body.error, 'invalid_client');
  });

  it('show an agent its own tokens only', async () => {
    const mine = await grantScenario(h);
    const theirs = await grantScenario(h);
    const token = String((await exchange(h, mine)).body.access_token);
    const asAgent = (agent: typeof mine, t: string) => form('/oauth/introspect', {
      token: t, client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: clientAssertion(agent.key, `${h.url}/oauth/token`),
    });
    const own = await asAgent(mine, token);
    assert.equal(own.body.active, true);
    assert.equal(own.body.mandate_id, mine.mandateId);
    assert.deepEqual((await asAgent(theirs, token)).body, { active: false });
  });

  it('revoke a task token (RFC 7009), and answer 200 for unknown tokens', async () => {
    const s = await grantScenario(h);
    const token = String((await exchange(h, s)).body.access_token);
    assert.equal((await form('/oauth/introspect', { token }, h.adminToken)).body.active, true);
    assert.equal((await form('/oauth/revoke', { token }, h.adminToken)).status, 200);
    assert.deepEqual((await form('/oauth/introspect', { token }, h.adminToken)).body, { active: false });
    assert.equal((await h.api('GET', `/api/v1/mandates/${s.mandateId}`)).body.state, 'active', 'revoking one task token leaves the mandate');
    assert.equal((await form('/oauth/revoke', { token: 'eyJnotatoken' }, h.adminToken)).status, 200);
    assert.equal((await form('/oauth/revoke', {}, h.adminToken)).body.error, 'invalid_request');
  });

  it('report a task token inactive once its mandate is completed or has expired', async () => {
    const done = await grantScenario(h);
    const doneToken = String((await exchange(h, done)).body.access_token);
    assert.equal((await form('/oauth/introspect', { token: doneToken }, h.adminToken)).body.active, true);
    assert.equal((await h.api('POST', `/api/v1/mandates/${done.mandateId}/complete`, { token: done.personToken, body: {} })).status, 200);
    assert.deepEqual((await form('/oauth/introspect', { token: doneToken }, h.adminToken)).body, { active: false });

    const brief = await grantScenario(h, { ttl: 1 });
    const briefToken = String((await exchange(h, brief)).body.access_token);
    await new Promise((resolve) => setTimeout(resolve, 2100));
    assert.deepEqual((await form('/oauth/introspect', { token: briefToken }, h.adminToken)).body, { active: false });
    assert.equal((await h.api('GET', `/api/v1/mandates/${brief.mandateId}`)).body.state, 'expired');
  });

  it('revoke a person token: the control plane refuses it from then on', async () => {
    await h.api('POST', '/api/v1/users', { body: { id: 'frank' } });
    const token = String((await h.api('POST', '/api/v1/users/frank/login')).body.token);
    assert.equal((await h.api('GET', '/api/v1/whoami', { token })).status, 200);
    assert.equal((await form('/oauth/revoke', { token }, h.adminToken)).status, 200);
    const refused = await h.api('GET', '/api/v1/whoami', { token });
    assert.equal(refused.status, 401);
    assert.equal(refused.body.code, 'token_revoked');
  });

  it('revoke the mandate when its mandate token is revoked', async () => {
    const s = await grantScenario(h);
    assert.equal((await form('/oauth/revoke', { token: s.mandateToken }, h.adminToken)).status, 200);
    assert.equal((await h.api('GET', `/api/v1/mandates/${s.mandateId}`)).body.state, 'revoked');
  });
});

describe('discovery, health, metrics and the OpenAPI document', () => {
  it('publishes authorization server metadata under both well-known names', async () => {
    for (const path of ['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration']) {
      const { body } = await h.api('GET', path, { token: null });
      assert.equal(body.issuer, h.url);
      assert.equal(body.token_endpoint, `${h.url}/oauth/token`);
      assert.equal(body.jwks_uri, `${h.url}/.well-known/jwks.json`);
      assert.equal(body.introspection_endpoint, `${h.url}/oauth/introspect`);
      assert.equal(body.revocation_endpoint, `${h.url}/oauth/revoke`);
      assert.deepEqual(body.grant_types_supported, ['urn:ietf:params:oauth:grant-type:token-exchange']);
      assert.deepEqual(body.token_endpoint_auth_methods_supported, ['private_key_jwt']);
      assert.ok((body.dpop_signing_alg_values_supported as string[]).includes('ES256'));
    }
  });

  it('answers health and readiness', async () => {
    assert.deepEqual((await h.api('GET', '/healthz', { token: null })).body, { status: 'ok' });
    const ready = await h.api('GET', '/readyz', { token: null });
    assert.equal(ready.status, 200);
    assert.equal(ready.body.store, 'sqlite');
    assert.equal(ready.body.policy_set, h.app.policy().hash);
  });

  it('exposes Prometheus metrics that count requests and issued tokens', async () => {
    const s = await grantScenario(h);
    await exchange(h, s);
    const response = await fetch(`${h.url}/metrics`);
    assert.match(String(response.headers.get('content-type')), /^text\/plain/);
    const text = await response.text();
    assert.match(text, /mandate_http_requests_total\{method="POST",route="\/oauth\/token",status="200"\} [1-9]/);
    assert.match(text, /mandate_tokens_issued_total\{kind="task"\} [1-9]/);
  });

  it('documents every control-plane route in OpenAPI 3.1, from the validating schemas', async () => {
    const doc = (await h.api('GET', '/api/v1/openapi.json', { token: null })).body as { openapi: string; paths: Record<string, Record<string, Record<string, unknown>>> };
    assert.equal(doc.openapi, '3.1.0');
    for (const route of API_ROUTES) {
      assert.ok(doc.paths[route.path]?.[route.method.toLowerCase()], `${route.method} ${route.path} is documented`);
    }
    const createUser = doc.paths['/api/v1/users']?.post as { requestBody: { content: Record<string, { schema: Record<string, unknown> }> } };
    const schema = createUser.requestBody.content['application/json']?.schema as { additionalProperties: unknown; required: string[]; properties: Record<string, unknown> };
    assert.equal(schema.additionalProperties, false);
    assert.deepEqual(schema.required, ['id']);
    assert.deepEqual(Object.keys(schema.properties).sort(), ['email', 'id', 'name']);
  });
});
