// The control plane beyond rest-api.test.ts: ids, grants as only a person makes them,
// who may end a mandate, and what introspection and revocation report as the
// authority behind a token ends.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
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


describe('bad input is a precise problem and changes nothing', () => {
  it('refuses a person id that is not an id', async () => {
    expectProblem(await raw('POST', '/api/v1/users', { body: JSON.stringify({ id: '../etc' }), headers: { 'content-type': 'application/json' } }), 400, 'invalid_person_id');
  });

});

describe('authentication and authority', () => {
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
  it('lets only the grantor or the admin revoke a mandate', async () => {
    const s = await grantScenario(h);
    await h.api('POST', '/api/v1/users', { body: { id: 'bob' } });
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
  it('exposes Prometheus metrics that count requests and issued tokens', async () => {
    const s = await grantScenario(h);
    await exchange(h, s);
    const response = await fetch(`${h.url}/metrics`);
    assert.match(String(response.headers.get('content-type')), /^text\/plain/);
    const text = await response.text();
    assert.match(text, /mandate_http_requests_total\{method="POST",route="\/oauth\/token",status="200"\} [1-9]/);
    assert.match(text, /mandate_tokens_issued_total\{kind="task"\} [1-9]/);
  });

});
