// The token endpoint over real HTTP, beyond the refusals in token-endpoint.test.ts:
// actor tokens, narrowing, what the token is bound to, lifetimes, and the state of the
// people and agents behind a mandate.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { randomUUID } from 'node:crypto';
import { decodeJwt } from 'jose';
import { clientAssertion, dpopProof, generateAgentKey } from '../src/client/agent-key.ts';
import { signJws } from '../src/identity/jws.ts';
import { nowSeconds } from '../src/lib/clock.ts';
import { exchange, expectOAuthError as expectError, grantScenario, startMandate, type Harness, type Scenario } from './harness.ts';

let h: Harness;
let s: Scenario;

before(async () => {
  h = await startMandate();
  s = await grantScenario(h, { allow: ['fs/read_file'] });
});
after(() => h.close());

describe('token exchange', () => {
  it('issues a DPoP-bound task token for one resource', async () => {
    const answer = await exchange(h, s);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.body.token_type, 'DPoP');
    assert.equal(answer.body.issued_token_type, 'urn:ietf:params:oauth:token-type:access_token');
    assert.ok(Number(answer.body.expires_in) <= 300 && Number(answer.body.expires_in) > 0);
    assert.equal(answer.body.scope, 'fs/read_file');
    assert.equal(answer.headers.get('cache-control'), 'no-store');
    const claims = decodeJwt(String(answer.body.access_token));
    assert.equal(claims.aud, `${h.url}/mcp/fs`);
    assert.deepEqual(claims.act, { sub: s.spiffeId });
  });

  it('accepts the agent again as actor_token', async () => {
    const actor = clientAssertion(s.key, `${h.url}/oauth/token`);
    const answer = await exchange(h, s, { actor_token: actor, actor_token_type: 'urn:ietf:params:oauth:token-type:jwt' });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
  });

  it('narrows to a requested scope within the mandate', async () => {
    const wide = await grantScenario(h, { allow: ['fs/*'] });
    const answer = await exchange(h, wide, { scope: 'fs/write_file' });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.body.scope, 'fs/write_file');
  });
});

describe('scope and resource', () => {
  it('refuses a resource the mandate grants nothing on', async () => {
    await h.api('POST', '/api/v1/servers', { body: { name: 'db', url: 'http://127.0.0.1:9/mcp' } });
    expectError(await exchange(h, s, { resource: `${h.url}/mcp/db` }), 'invalid_target', 'resource_not_in_mandate');
  });
});

describe('DPoP proofs at the token endpoint are invalid_dpop_proof', () => {
  const tokenUrl = (): string => `${h.url}/oauth/token`;

  it('refuses a proof with a private key in its header', async () => {
    const key = generateAgentKey();
    const proof = signJws({ alg: 'ES256', typ: 'dpop+jwt', jwk: key.privateJwk }, { jti: randomUUID(), htm: 'POST', htu: tokenUrl(), iat: nowSeconds() }, key.privateKey);
    expectError(await exchange(h, s, {}, proof), 'invalid_dpop_proof', 'dpop_signature_invalid');
  });

  it('binds the token to the proof key, not to the client key', async () => {
    const other = generateAgentKey();
    const answer = await exchange(h, s, {}, dpopProof(other, 'POST', tokenUrl()));
    assert.equal(answer.status, 200);
    const cnf = decodeJwt(String(answer.body.access_token)).cnf as { jkt: string };
    assert.equal(cnf.jkt, other.kid);
  });
});

describe('client authentication is invalid_client', () => {
  it('refuses an assertion without iat or with a long life', async () => {
    const now = nowSeconds();
    const noIat = signJws({ alg: 'ES256', kid: s.key.kid }, { iss: s.spiffeId, sub: s.spiffeId, aud: `${h.url}/oauth/token`, exp: now + 60, jti: randomUUID() }, s.key.privateKey);
    expectError(await exchange(h, s, { client_assertion: noIat }), 'invalid_client', 'token_claim_missing');
    const long = signJws({ alg: 'ES256', kid: s.key.kid }, { iss: s.spiffeId, sub: s.spiffeId, aud: `${h.url}/oauth/token`, iat: now, exp: now + 86400, jti: randomUUID() }, s.key.privateKey);
    expectError(await exchange(h, s, { client_assertion: long }), 'invalid_client', 'token_lifetime_too_long');
  });

  it('refuses a suspended agent, and accepts it again once reactivated', async () => {
    const t = await grantScenario(h);
    assert.equal((await h.api('POST', `/api/v1/agents/${t.agentId}/suspend`)).status, 200);
    expectError(await exchange(h, t), 'invalid_client', 'agent_inactive');
    assert.equal((await h.api('POST', `/api/v1/agents/${t.agentId}/activate`)).status, 200);
    assert.equal((await exchange(h, t)).status, 200);
  });
});

describe('mandate state', () => {
  it('refuses a completed mandate', async () => {
    const t = await grantScenario(h);
    assert.equal((await h.api('POST', `/api/v1/mandates/${t.mandateId}/complete`, { token: t.personToken, body: {} })).status, 200);
    expectError(await exchange(h, t), 'invalid_grant', 'mandate_not_active');
  });

  it('refuses once the grantor is deactivated: their mandates were revoked with them', async () => {
    await h.api('POST', '/api/v1/users', { body: { id: 'dave' } });
    const t = await grantScenario(h, { person: 'dave' });
    assert.equal((await h.api('POST', '/api/v1/users/dave/deactivate')).status, 200);
    expectError(await exchange(h, t), 'invalid_grant', 'mandate_not_active');
    const mandate = await h.app.store.getMandate(t.mandateId);
    assert.deepEqual([mandate?.state, mandate?.reason, mandate?.endedBy], ['revoked', 'grantor deactivated', 'admin']);
  });

  it('caps the task token at the mandate expiry', async () => {
    const t = await grantScenario(h, { ttl: 60 });
    const answer = await exchange(h, t);
    assert.equal(answer.status, 200);
    const claims = decodeJwt(String(answer.body.access_token));
    const mandate = await h.app.store.getMandate(t.mandateId);
    assert.ok(Number(claims.exp) <= Number(mandate?.expiresAt));
    assert.ok(Number(answer.body.expires_in) <= 60);
  });
});

describe('bad requests are invalid_request and change nothing', () => {
  it('refuses a missing subject_token_type and an unknown parameter', async () => {
    expectError(await exchange(h, s, { subject_token_type: undefined }), 'invalid_request', 'parameter_missing');
    expectError(await exchange(h, s, { password: 'x' }), 'invalid_request', 'parameter_unknown');
  });

  it('never answers 500 to garbage, and the mandate stays active', async () => {
    const garbage = ['', 'a=%ZZ', '&&&', 'grant_type=' + 'x'.repeat(60_000), 'subject_token=.' ];
    for (const body of garbage) {
      const response = await fetch(`${h.url}/oauth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', dpop: 'garbage' }, body });
      assert.ok(response.status >= 400 && response.status < 500, `${body.slice(0, 20)} → ${response.status}`);
    }
    const mandate = await h.app.store.getMandate(s.mandateId);
    assert.equal(mandate?.state, 'active');
    assert.equal(mandate?.callsUsed, 0);
  });
});

