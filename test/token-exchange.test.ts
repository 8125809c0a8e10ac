// The token endpoint over real HTTP: the happy path, and every refusal with its OAuth
// error and Mandate code. A refused request never changes state.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createSecretKey, generateKeyPairSync, randomUUID } from 'node:crypto';
import { SignJWT, UnsecuredJWT, decodeJwt } from 'jose';
import { clientAssertion, dpopProof, generateAgentKey } from '../src/client/agent-key.ts';
import { signJws } from '../src/identity/jws.ts';
import { nowSeconds } from '../src/lib/clock.ts';
import { exchange, grantScenario, startMandate, type Harness, type Scenario } from './harness.ts';

let h: Harness;
let s: Scenario;

before(async () => {
  h = await startMandate();
  s = await grantScenario(h, { allow: ['fs/read_file'] });
});
after(() => h.close());

const expectError = (answer: { status: number; body: Record<string, unknown> }, error: string, code: string, status = error === 'invalid_client' ? 401 : 400): void => {
  assert.equal(answer.body.error, error, JSON.stringify(answer.body));
  assert.equal(answer.body.mandate_error, code, JSON.stringify(answer.body));
  assert.equal(answer.status, status);
  assert.equal(typeof answer.body.error_description, 'string');
};

/** Signs mandate-token-shaped claims with the server's current key (as if forged by someone holding it, or for shape tests). */
function mandateClaims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const now = nowSeconds();
  return { iss: h.url, sub: 'alice', aud: h.url, iat: now, exp: now + 600, jti: randomUUID(), may_act: { sub: s.spiffeId }, mandate_id: s.mandateId, scope: 'fs/read_file', ...overrides };
}

function signedByServer(claims: Record<string, unknown>, header: Record<string, unknown> = {}): string {
  const { kid, privateKey } = h.app.keys.current;
  return signJws({ alg: 'ES256', typ: 'mandate+jwt', kid, ...header }, claims, privateKey);
}

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

describe('forged or misused mandate tokens are invalid_grant', () => {
  it('refuses alg none', async () => {
    const forged = new UnsecuredJWT(mandateClaims()).encode();
    expectError(await exchange(h, s, { subject_token: forged }), 'invalid_grant', 'token_alg_not_allowed');
  });

  it('refuses HS256 signed with the public key as the secret', async () => {
    const jwks = (await h.api('GET', '/.well-known/jwks.json', { token: null })).body.keys as Array<Record<string, unknown>>;
    const publicJwk = jwks[0] as Record<string, unknown>;
    const secret = createSecretKey(Buffer.from(JSON.stringify(publicJwk)));
    const forged = await new SignJWT(mandateClaims()).setProtectedHeader({ alg: 'HS256', typ: 'mandate+jwt', kid: String(publicJwk.kid) }).sign(secret);
    expectError(await exchange(h, s, { subject_token: forged }), 'invalid_grant', 'token_alg_not_allowed');
  });

  it('refuses an unknown kid', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const forged = signJws({ alg: 'ES256', typ: 'mandate+jwt', kid: 'not-a-published-key' }, mandateClaims(), privateKey);
    expectError(await exchange(h, s, { subject_token: forged }), 'invalid_grant', 'token_kid_unknown');
  });

  it('refuses an injected kid and an embedded key', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const injected = signJws({ alg: 'ES256', typ: 'mandate+jwt', kid: "../../keys' OR '1'='1" }, mandateClaims(), privateKey);
    expectError(await exchange(h, s, { subject_token: injected }), 'invalid_grant', 'token_kid_unknown');
    const embedded = signJws({ alg: 'ES256', typ: 'mandate+jwt', jwk: publicKey.export({ format: 'jwk' }) }, mandateClaims(), privateKey);
    expectError(await exchange(h, s, { subject_token: embedded }), 'invalid_grant', 'token_kid_missing');
  });

  it('refuses a token signed with a published kid but another key', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const forged = signJws({ alg: 'ES256', typ: 'mandate+jwt', kid: h.app.keys.current.kid }, mandateClaims(), privateKey);
    expectError(await exchange(h, s, { subject_token: forged }), 'invalid_grant', 'token_signature_invalid');
  });

  it('refuses an expired mandate token', async () => {
    const now = nowSeconds();
    expectError(await exchange(h, s, { subject_token: signedByServer(mandateClaims({ iat: now - 7200, exp: now - 3600 })) }), 'invalid_grant', 'token_expired');
  });

  it('refuses a mandate token not yet valid', async () => {
    const now = nowSeconds();
    expectError(await exchange(h, s, { subject_token: signedByServer(mandateClaims({ nbf: now + 3600 })) }), 'invalid_grant', 'token_not_yet_valid');
  });

  it('refuses a wrong audience', async () => {
    expectError(await exchange(h, s, { subject_token: signedByServer(mandateClaims({ aud: 'https://elsewhere.example' })) }), 'invalid_grant', 'token_audience_mismatch');
  });

  it('refuses the wrong typ: a person token as the subject token', async () => {
    expectError(await exchange(h, s, { subject_token: s.personToken }), 'invalid_grant', 'token_type_mismatch');
  });

  it('refuses an oversized token before parsing it', async () => {
    const huge = signedByServer(mandateClaims({ padding: 'x'.repeat(9000) }));
    expectError(await exchange(h, s, { subject_token: huge }), 'invalid_grant', 'token_too_large');
  });

  it('refuses a mandate token presented by another agent', async () => {
    const other = await grantScenario(h);
    const answer = await exchange(h, { ...other, mandateToken: s.mandateToken });
    expectError(answer, 'invalid_grant', 'may_act_mismatch');
  });
});

describe('scope and resource', () => {
  it('refuses a scope wider than the mandate', async () => {
    expectError(await exchange(h, s, { scope: 'fs/read_file fs/write_file' }), 'invalid_scope', 'scope_exceeds_mandate');
  });

  it('refuses a wildcard scope over single-tool grants', async () => {
    expectError(await exchange(h, s, { scope: 'fs/*' }), 'invalid_scope', 'scope_exceeds_mandate');
  });

  it('refuses a scope on another resource', async () => {
    expectError(await exchange(h, s, { scope: 'db/query' }), 'invalid_scope', 'scope_other_resource');
  });

  it('refuses a missing, unknown or foreign resource', async () => {
    expectError(await exchange(h, s, { resource: undefined }), 'invalid_target', 'resource_missing');
    expectError(await exchange(h, s, { resource: `${h.url}/mcp/nope` }), 'invalid_target', 'resource_unknown');
    expectError(await exchange(h, s, { resource: 'https://evil.example/mcp/fs' }), 'invalid_target', 'resource_unknown');
  });

  it('refuses a resource the mandate grants nothing on', async () => {
    await h.api('POST', '/api/v1/servers', { body: { name: 'db', url: 'http://127.0.0.1:9/mcp' } });
    expectError(await exchange(h, s, { resource: `${h.url}/mcp/db` }), 'invalid_target', 'resource_not_in_mandate');
  });
});

describe('DPoP proofs at the token endpoint are invalid_dpop_proof', () => {
  const tokenUrl = (): string => `${h.url}/oauth/token`;

  it('requires a proof', async () => {
    expectError(await exchange(h, s, {}, null), 'invalid_dpop_proof', 'dpop_missing');
  });

  it('refuses a replayed proof', async () => {
    const proof = dpopProof(s.key, 'POST', tokenUrl());
    assert.equal((await exchange(h, s, {}, proof)).status, 200);
    expectError(await exchange(h, s, {}, proof), 'invalid_dpop_proof', 'dpop_replayed');
  });

  it('refuses the wrong htm', async () => {
    expectError(await exchange(h, s, {}, dpopProof(s.key, 'GET', tokenUrl())), 'invalid_dpop_proof', 'dpop_htm_mismatch');
  });

  it('refuses the wrong htu', async () => {
    expectError(await exchange(h, s, {}, dpopProof(s.key, 'POST', `${h.url}/oauth/introspect`)), 'invalid_dpop_proof', 'dpop_htu_mismatch');
  });

  it('refuses a stale iat', async () => {
    expectError(await exchange(h, s, {}, dpopProof(s.key, 'POST', tokenUrl(), undefined, nowSeconds() - 600)), 'invalid_dpop_proof', 'dpop_iat_stale');
  });

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
  it('requires a client assertion', async () => {
    expectError(await exchange(h, s, { client_assertion: undefined, client_assertion_type: undefined }), 'invalid_client', 'client_authentication_missing');
  });

  it('refuses a replayed assertion', async () => {
    const assertion = clientAssertion(s.key, `${h.url}/oauth/token`);
    assert.equal((await exchange(h, s, { client_assertion: assertion })).status, 200);
    expectError(await exchange(h, s, { client_assertion: assertion }), 'invalid_client', 'assertion_replayed');
  });

  it('refuses the wrong audience', async () => {
    expectError(await exchange(h, s, { client_assertion: clientAssertion(s.key, 'https://elsewhere.example/token') }), 'invalid_client', 'token_audience_mismatch');
  });

  it('refuses an assertion signed by a key the agent did not enroll', async () => {
    const stranger = { ...generateAgentKey(), clientId: s.spiffeId };
    expectError(await exchange(h, s, { client_assertion: clientAssertion(stranger, `${h.url}/oauth/token`) }), 'invalid_client', 'token_kid_unknown');
    const sameKid = { ...stranger, kid: s.key.kid };
    expectError(await exchange(h, s, { client_assertion: clientAssertion(sameKid, `${h.url}/oauth/token`) }), 'invalid_client', 'token_signature_invalid');
  });

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
  it('refuses a revoked mandate', async () => {
    const t = await grantScenario(h);
    assert.equal((await h.api('POST', `/api/v1/mandates/${t.mandateId}/revoke`, { token: t.personToken, body: { reason: 'done' } })).status, 200);
    expectError(await exchange(h, t), 'invalid_grant', 'mandate_not_active');
  });

  it('refuses a completed mandate', async () => {
    const t = await grantScenario(h);
    assert.equal((await h.api('POST', `/api/v1/mandates/${t.mandateId}/complete`, { token: t.personToken, body: {} })).status, 200);
    expectError(await exchange(h, t), 'invalid_grant', 'mandate_not_active');
  });

  it('refuses an exhausted mandate', async () => {
    const t = await grantScenario(h, { maxCalls: 1 });
    const stored = await h.app.store.getMandate(t.mandateId);
    assert.ok(stored);
    // Calls are counted by the gateway; here a mandate whose budget is spent is stored directly.
    const spent = { ...stored, id: `${stored.id}_spent`, callsUsed: 1 };
    await h.app.store.createMandate(spent);
    const token = signedByServer(mandateClaims({ sub: spent.grantor, may_act: { sub: t.spiffeId }, mandate_id: spent.id }));
    expectError(await exchange(h, { ...t, mandateToken: token }), 'invalid_grant', 'mandate_exhausted');
  });

  it('refuses once the grantor is deactivated', async () => {
    await h.api('POST', '/api/v1/users', { body: { id: 'dave' } });
    const t = await grantScenario(h, { person: 'dave' });
    assert.equal((await h.api('POST', '/api/v1/users/dave/deactivate')).status, 200);
    expectError(await exchange(h, t), 'invalid_grant', 'grantor_inactive');
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
  it('refuses duplicate parameters', async () => {
    const body = new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange' });
    body.append('grant_type', 'client_credentials');
    const response = await fetch(`${h.url}/oauth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: body.toString() });
    expectError({ status: response.status, body: (await response.json()) as Record<string, unknown> }, 'invalid_request', 'duplicate_parameter');
  });

  it('refuses a missing subject_token_type and an unknown parameter', async () => {
    expectError(await exchange(h, s, { subject_token_type: undefined }), 'invalid_request', 'parameter_missing');
    expectError(await exchange(h, s, { password: 'x' }), 'invalid_request', 'parameter_unknown');
  });

  it('refuses JSON bodies', async () => {
    const response = await fetch(`${h.url}/oauth/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expectError({ status: response.status, body: (await response.json()) as Record<string, unknown> }, 'invalid_request', 'unsupported_media_type');
  });

  it('refuses other grant types', async () => {
    expectError(await exchange(h, s, { grant_type: 'client_credentials' }), 'unsupported_grant_type', 'grant_type_unsupported');
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

