// /oauth/token over real HTTP against a real Mandate: the happy path, then every refusal
// with the exact OAuth `error` and Mandate `mandate_error`, each in its own test. A
// refused request changes nothing and is never answered with a 500.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createHmac, createPublicKey, generateKeyPairSync, randomUUID, type JsonWebKey } from 'node:crypto';
import { decodeJwt } from 'jose';
import { clientAssertion, dpopProof, generateAgentKey } from '../src/client/agent-key.ts';
import { jwkThumbprint, type JWK } from '../src/identity/jwk.ts';
import { signJws } from '../src/identity/jws.ts';
import { nowSeconds } from '../src/lib/clock.ts';
import { exchange, exchangeParams, expectOAuthError as expectError, grantScenario, startMandate, type Harness, type Scenario } from './harness.ts';

type Answer = { status: number; body: Record<string, unknown>; headers?: Headers };

let h: Harness;
let s: Scenario;

before(async () => {
  h = await startMandate();
  s = await grantScenario(h, { allow: ['fs/read_file'] });
});
after(() => h.close());

const tokenUrl = (): string => `${h.url}/oauth/token`;
const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

/** Claims shaped like s's mandate token; tests change one thing at a time. */
function mandateClaims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const now = nowSeconds();
  return { iss: h.url, sub: 'alice', aud: h.url, iat: now, exp: now + 600, jti: randomUUID(), may_act: { sub: s.spiffeId }, mandate_id: s.mandateId, scope: 'fs/read_file', ...overrides };
}

/** A mandate token genuinely signed by this Mandate, with the given claims. */
const signedByServer = (claims: Record<string, unknown>): string => h.app.tokens.sign('mandate', claims);

const attackerKey = () => generateKeyPairSync('ec', { namedCurve: 'P-256' });

async function mandateView(id: string): Promise<Record<string, unknown>> {
  const answer = await h.api('GET', `/api/v1/mandates/${id}`);
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return answer.body;
}

async function postRaw(body: string, headers: Record<string, string>): Promise<Answer> {
  const response = await fetch(tokenUrl(), { method: 'POST', headers, body });
  const text = await response.text();
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch {
    parsed = { text };
  }
  return { status: response.status, body: parsed, headers: response.headers };
}

describe('the happy path', () => {
  it('issues a DPoP-bound access token for one resource, within the mandate scope', async () => {
    const answer = await exchange(h, s);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.body.token_type, 'DPoP');
    assert.equal(answer.body.issued_token_type, 'urn:ietf:params:oauth:token-type:access_token');
    assert.equal(typeof answer.body.expires_in, 'number');
    assert.ok(Number(answer.body.expires_in) > 0 && Number(answer.body.expires_in) <= 300, String(answer.body.expires_in));
    assert.equal(answer.body.scope, 'fs/read_file');
    assert.equal(answer.headers.get('cache-control'), 'no-store');
    const claims = decodeJwt(String(answer.body.access_token));
    assert.equal(claims.aud, `${h.url}/mcp/fs`);
    assert.equal(claims.sub, 'alice');
    assert.equal(claims.mandate_id, s.mandateId);
    assert.deepEqual(claims.cnf, { jkt: s.key.kid });
  });

  it('accepts a proof whose htu carries a query, and an upper-case scheme and host', async () => {
    const url = new URL(tokenUrl());
    const htu = `HTTP://${url.host.toUpperCase()}${url.pathname}?x=1#frag`;
    const answer = await exchange(h, s, {}, dpopProof(s.key, 'POST', htu));
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
  });
});

describe('a forged or misused subject token is invalid_grant', () => {
  it('refuses alg none', async () => {
    const forged = `${b64({ alg: 'none', typ: 'mandate+jwt', kid: h.app.keys.current.kid })}.${b64(mandateClaims())}.`;
    expectError(await exchange(h, s, { subject_token: forged }), 'invalid_grant', 'token_alg_not_allowed');
  });

  it('refuses HS256 signed with the published public key as the HMAC secret', async () => {
    const jwks = (await h.api('GET', '/.well-known/jwks.json', { token: null })).body.keys as JWK[];
    const published = jwks.find((k) => k.kid === h.app.keys.current.kid) as JWK;
    const pem = createPublicKey({ key: published as JsonWebKey, format: 'jwk' }).export({ format: 'pem', type: 'spki' });
    const signingInput = `${b64({ alg: 'HS256', typ: 'mandate+jwt', kid: published.kid })}.${b64(mandateClaims())}`;
    const forged = `${signingInput}.${createHmac('sha256', pem).update(signingInput).digest('base64url')}`;
    expectError(await exchange(h, s, { subject_token: forged }), 'invalid_grant', 'token_alg_not_allowed');
  });

  it('refuses an unknown kid', async () => {
    const forged = signJws({ alg: 'ES256', typ: 'mandate+jwt', kid: 'key-2019-01' }, mandateClaims(), attackerKey().privateKey);
    expectError(await exchange(h, s, { subject_token: forged }), 'invalid_grant', 'token_kid_unknown');
  });

  it('refuses an injected kid', async () => {
    const forged = signJws({ alg: 'ES256', typ: 'mandate+jwt', kid: "../../../dev/null'; DROP TABLE signing_keys; --" }, mandateClaims(), attackerKey().privateKey);
    expectError(await exchange(h, s, { subject_token: forged }), 'invalid_grant', 'token_kid_unknown');
    assert.ok((await h.app.store.listSigningKeys()).length >= 2, 'the signing keys are still there');
  });

  it('refuses a token embedding its own jwk, signed by that attacker key', async () => {
    const attacker = attackerKey();
    const jwk = attacker.publicKey.export({ format: 'jwk' }) as JWK;
    const forged = signJws({ alg: 'ES256', typ: 'mandate+jwt', kid: jwkThumbprint(jwk), jwk }, mandateClaims(), attacker.privateKey);
    expectError(await exchange(h, s, { subject_token: forged }), 'invalid_grant', 'token_kid_unknown');
  });

  it('refuses a token signed by an attacker key under the published kid', async () => {
    const forged = signJws({ alg: 'ES256', typ: 'mandate+jwt', kid: h.app.keys.current.kid }, mandateClaims(), attackerKey().privateKey);
    expectError(await exchange(h, s, { subject_token: forged }), 'invalid_grant', 'token_signature_invalid');
  });

  it('refuses a tampered mandate token (scope widened)', async () => {
    const [head, payload, signature] = s.mandateToken.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
    const tampered = `${head}.${b64({ ...claims, scope: 'fs/*' })}.${signature}`;
    expectError(await exchange(h, s, { subject_token: tampered }), 'invalid_grant', 'token_signature_invalid');
  });

  it('refuses an expired mandate token', async () => {
    const now = nowSeconds();
    expectError(await exchange(h, s, { subject_token: signedByServer(mandateClaims({ iat: now - 7200, exp: now - 3600 })) }), 'invalid_grant', 'token_expired');
  });

  it('refuses a mandate token not valid yet', async () => {
    const now = nowSeconds();
    expectError(await exchange(h, s, { subject_token: signedByServer(mandateClaims({ nbf: now + 3600, exp: now + 7200 })) }), 'invalid_grant', 'token_not_yet_valid');
  });

  it('refuses a mandate token for another audience', async () => {
    expectError(await exchange(h, s, { subject_token: signedByServer(mandateClaims({ aud: `${h.url}/mcp/fs` })) }), 'invalid_grant', 'token_audience_mismatch');
  });

  it('refuses a person token as the subject token (already verified once as a person token)', async () => {
    // The grant in `before` authenticated with this very token, so it sits in the verified-token cache as a person token.
    assert.equal((await h.api('GET', '/api/v1/whoami', { token: s.personToken })).status, 200);
    expectError(await exchange(h, s, { subject_token: s.personToken }), 'invalid_grant', 'token_type_mismatch');
  });

  it('refuses a task token as the subject token', async () => {
    const issued = await exchange(h, s);
    assert.equal(issued.status, 200);
    expectError(await exchange(h, s, { subject_token: String(issued.body.access_token) }), 'invalid_grant', 'token_type_mismatch');
  });

  it('refuses an oversized subject token', async () => {
    const huge = signedByServer(mandateClaims({ padding: 'x'.repeat(9000) }));
    assert.ok(huge.length > 8192);
    expectError(await exchange(h, s, { subject_token: huge }), 'invalid_grant', 'token_too_large');
  });

  it('refuses a mandate token presented by another enrolled agent', async () => {
    const other = await grantScenario(h);
    expectError(await exchange(h, { ...other, mandateToken: s.mandateToken }), 'invalid_grant', 'may_act_mismatch');
  });

  it('refuses garbage subject tokens without a 500', async () => {
    const garbage = ['.', 'a.b.c', `${b64([1])}.${b64({})}.c2ln`, `${b64({ alg: 'ES256', typ: 'mandate+jwt', kid: { $gt: '' } })}.${b64(mandateClaims())}.c2ln`,
      `${b64({ alg: 'ES256', typ: 'mandate+jwt', kid: '__proto__' })}.${b64(mandateClaims())}.c2ln`, `${Buffer.from('{"alg":').toString('base64url')}.e30.c2ln`];
    for (const subject of garbage) {
      const answer = await exchange(h, s, { subject_token: subject });
      assert.equal(answer.status, 400, `${subject} → ${JSON.stringify(answer.body)}`);
      assert.equal(answer.body.error, 'invalid_grant', subject);
    }
  });
});

describe('scope and resource', () => {
  it('refuses a scope wider than the mandate', async () => {
    expectError(await exchange(h, s, { scope: 'fs/read_file fs/write_file' }), 'invalid_scope', 'scope_exceeds_mandate');
  });

  it('refuses fs/* over a single-tool mandate', async () => {
    expectError(await exchange(h, s, { scope: 'fs/*' }), 'invalid_scope', 'scope_exceeds_mandate');
  });

  it('refuses a scope for another server than the resource', async () => {
    expectError(await exchange(h, s, { scope: 'db/query' }), 'invalid_scope', 'scope_other_resource');
  });

  it('refuses a malformed scope', async () => {
    expectError(await exchange(h, s, { scope: 'fs' }), 'invalid_scope', 'invalid_scope');
  });

  it('refuses an unknown resource', async () => {
    expectError(await exchange(h, s, { resource: `${h.url}/mcp/nope` }), 'invalid_target', 'resource_unknown');
  });

  it('refuses a resource on another origin', async () => {
    expectError(await exchange(h, s, { resource: 'https://evil.example/mcp/fs' }), 'invalid_target', 'resource_unknown');
  });

  it('refuses a missing resource', async () => {
    expectError(await exchange(h, s, { resource: undefined }), 'invalid_target', 'resource_missing');
  });

  it('refuses an audience other than the resource', async () => {
    expectError(await exchange(h, s, { audience: `${h.url}/mcp/db` }), 'invalid_target', 'audience_mismatch');
  });
});

describe('the DPoP proof is invalid_dpop_proof', () => {
  it('refuses a request without a DPoP header', async () => {
    expectError(await exchange(h, s, {}, null), 'invalid_dpop_proof', 'dpop_missing');
  });

  it('refuses the same proof twice', async () => {
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

  it('refuses a proof for another port on the same host', async () => {
    const url = new URL(tokenUrl());
    url.port = String(Number(url.port) + 1);
    expectError(await exchange(h, s, {}, dpopProof(s.key, 'POST', url.toString())), 'invalid_dpop_proof', 'dpop_htu_mismatch');
  });

  it('refuses a stale iat', async () => {
    expectError(await exchange(h, s, {}, dpopProof(s.key, 'POST', tokenUrl(), undefined, nowSeconds() - 600)), 'invalid_dpop_proof', 'dpop_iat_stale');
  });

  it('refuses an iat in the future', async () => {
    expectError(await exchange(h, s, {}, dpopProof(s.key, 'POST', tokenUrl(), undefined, nowSeconds() + 600)), 'invalid_dpop_proof', 'dpop_iat_stale');
  });

  it('refuses two DPoP headers', async () => {
    const headers = new Headers({ 'content-type': 'application/x-www-form-urlencoded' });
    headers.append('dpop', dpopProof(s.key, 'POST', tokenUrl()));
    headers.append('dpop', dpopProof(s.key, 'POST', tokenUrl()));
    const response = await fetch(tokenUrl(), { method: 'POST', headers, body: new URLSearchParams(exchangeParams(h, s)).toString() });
    expectError({ status: response.status, body: (await response.json()) as Record<string, unknown> }, 'invalid_dpop_proof', 'dpop_malformed');
  });
});

describe('client authentication is invalid_client (401)', () => {
  it('refuses a replayed client assertion', async () => {
    const assertion = clientAssertion(s.key, tokenUrl());
    assert.equal((await exchange(h, s, { client_assertion: assertion })).status, 200);
    const answer = await exchange(h, s, { client_assertion: assertion });
    expectError(answer, 'invalid_client', 'assertion_replayed');
    assert.ok(answer.headers.get('www-authenticate'));
  });

  it('refuses a client assertion for another audience', async () => {
    expectError(await exchange(h, s, { client_assertion: clientAssertion(s.key, `${h.url}/oauth/introspect`) }), 'invalid_client', 'token_audience_mismatch');
  });

  it('refuses a client assertion signed by a key the agent never enrolled', async () => {
    const stranger = { ...generateAgentKey(), clientId: s.spiffeId };
    expectError(await exchange(h, s, { client_assertion: clientAssertion(stranger, tokenUrl()) }), 'invalid_client', 'token_kid_unknown');
  });

  it('refuses a client assertion signed by another key under the enrolled kid', async () => {
    const impostor = { ...generateAgentKey(), clientId: s.spiffeId, kid: s.key.kid };
    expectError(await exchange(h, s, { client_assertion: clientAssertion(impostor, tokenUrl()) }), 'invalid_client', 'token_signature_invalid');
  });

  it('refuses a suspended agent', async () => {
    const t = await grantScenario(h);
    assert.equal((await h.api('POST', `/api/v1/agents/${t.agentId}/suspend`)).status, 200);
    expectError(await exchange(h, t), 'invalid_client', 'agent_inactive');
  });

  it('refuses a missing client assertion', async () => {
    expectError(await exchange(h, s, { client_assertion: undefined, client_assertion_type: undefined }), 'invalid_client', 'client_authentication_missing');
  });
});

describe('malformed requests', () => {
  it('refuses an unsupported grant_type', async () => {
    expectError(await exchange(h, s, { grant_type: 'client_credentials' }), 'unsupported_grant_type', 'grant_type_unsupported');
  });

  it('refuses a duplicated parameter', async () => {
    const body = new URLSearchParams(exchangeParams(h, s));
    body.append('scope', 'fs/read_file');
    body.append('scope', 'fs/write_file');
    expectError(await postRaw(body.toString(), { 'content-type': 'application/x-www-form-urlencoded', dpop: dpopProof(s.key, 'POST', tokenUrl()) }), 'invalid_request', 'duplicate_parameter');
  });

  it('refuses a missing subject_token_type', async () => {
    expectError(await exchange(h, s, { subject_token_type: undefined }), 'invalid_request', 'parameter_missing');
  });

  it('refuses a JSON body', async () => {
    expectError(await postRaw(JSON.stringify(exchangeParams(h, s)), { 'content-type': 'application/json' }), 'invalid_request', 'unsupported_media_type');
  });

  it('refuses a form sent as text/plain', async () => {
    expectError(await postRaw(new URLSearchParams(exchangeParams(h, s)).toString(), { 'content-type': 'text/plain' }), 'invalid_request', 'unsupported_media_type');
  });
});

describe('the mandate must still hold', () => {
  it('refuses a revoked mandate', async () => {
    const t = await grantScenario(h);
    assert.equal((await exchange(h, t)).status, 200);
    const revoked = await h.api('POST', `/api/v1/mandates/${t.mandateId}/revoke`, { token: t.personToken, body: { reason: 'task cancelled' } });
    assert.equal(revoked.status, 200, JSON.stringify(revoked.body));
    expectError(await exchange(h, t), 'invalid_grant', 'mandate_not_active');
  });

  it('refuses an exhausted mandate', async () => {
    const t = await grantScenario(h, { maxCalls: 3 });
    const stored = await h.app.store.getMandate(t.mandateId);
    assert.ok(stored);
    // The gateway counts calls; a mandate whose budget is spent is stored directly here.
    const spent = { ...stored, id: `${stored.id}x`, callsUsed: 3 };
    await h.app.store.createMandate(spent);
    const token = signedByServer(mandateClaims({ may_act: { sub: t.spiffeId }, mandate_id: spent.id, exp: spent.expiresAt }));
    expectError(await exchange(h, { ...t, mandateToken: token }), 'invalid_grant', 'mandate_exhausted');
  });

  it('refuses a mandate past its expiry, even while its token is within the clock tolerance', async () => {
    const t = await grantScenario(h, { ttl: 1 });
    await new Promise((resolve) => setTimeout(resolve, 2100));
    expectError(await exchange(h, t), 'invalid_grant', 'mandate_not_active');
  });

  it('refuses a mandate token naming a mandate that does not exist', async () => {
    expectError(await exchange(h, s, { subject_token: signedByServer(mandateClaims({ mandate_id: 'mnd_does_not_exist' })) }), 'invalid_grant', 'mandate_not_found');
  });
});

describe('enrollment', () => {
  it('refuses an enrollment token used twice, and keeps the first key', async () => {
    const added = await h.api('POST', '/api/v1/agents', { body: { name: `enrol-${randomUUID().slice(0, 8)}`, owner: 'alice', purpose: 'tests' } });
    assert.equal(added.status, 201, JSON.stringify(added.body));
    const agent = added.body.agent as Record<string, unknown>;
    const first = generateAgentKey();
    const second = generateAgentKey();
    const enrolled = await h.api('POST', '/api/v1/agents/enroll', { token: null, body: { enrollment_token: added.body.enrollment_token, jwk: first.publicJwk } });
    assert.equal(enrolled.status, 200, JSON.stringify(enrolled.body));
    const again = await h.api('POST', '/api/v1/agents/enroll', { token: null, body: { enrollment_token: added.body.enrollment_token, jwk: second.publicJwk } });
    assert.equal(again.status, 401, JSON.stringify(again.body));
    assert.equal(again.body.code, 'enrollment_used');
    const view = await h.api('GET', `/api/v1/agents/${String(agent.id)}`);
    assert.deepEqual(view.body.key_ids, [first.kid]);
  });
});

describe('refusals change nothing', () => {
  it('leaves the mandate active, unused and usable after a run of refused exchanges', async () => {
    const t = await grantScenario(h, { maxCalls: 5 });
    const beforeView = await mandateView(t.mandateId);
    const refused = [
      await exchange(h, t, { scope: 'fs/write_file' }),
      await exchange(h, t, { resource: `${h.url}/mcp/nope` }),
      await exchange(h, t, {}, null),
      await exchange(h, t, { subject_token: t.personToken }),
      await exchange(h, t, { client_assertion: clientAssertion(t.key, 'https://elsewhere.example/token') }),
      await exchange(h, t, { grant_type: 'client_credentials' }),
    ];
    for (const answer of refused) {
      assert.ok(answer.status === 400 || answer.status === 401, JSON.stringify(answer.body));
      assert.equal(answer.body.access_token, undefined);
    }
    const afterView = await mandateView(t.mandateId);
    assert.equal(afterView.state, 'active');
    assert.equal(afterView.calls_used, 0);
    assert.deepEqual(afterView, beforeView);
    const answer = await exchange(h, t);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
  });

  it('leaves s\'s mandate active after every refusal in this file', async () => {
    const view = await mandateView(s.mandateId);
    assert.equal(view.state, 'active');
    assert.equal(view.calls_used, 0);
    assert.equal((await exchange(h, s)).status, 200);
  });
});
