import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { dpopProof, generateAgentKey } from '../client/agent-key.ts';
import { MandateError } from '../errors.ts';
import { nowSeconds } from '../lib/clock.ts';
import { normalizeHtu, verifyDpopProof, type DpopCheck } from './dpop.ts';
import { signJws } from './jws.ts';
import { ReplayCache } from './replay-cache.ts';

const URL_ = 'https://mandate.example/oauth/token';
const key = generateAgentKey();
const check = (overrides: Partial<DpopCheck> = {}): DpopCheck => ({ method: 'POST', url: URL_, now: nowSeconds(), maxAge: 60, notBefore: 0, replayCache: new ReplayCache(), ...overrides });
const proofWith = (claims: Record<string, unknown>, header: Record<string, unknown> = {}) =>
  signJws({ alg: 'ES256', typ: 'dpop+jwt', jwk: key.publicJwk, ...header }, { jti: randomUUID(), htm: 'POST', htu: URL_, iat: nowSeconds(), ...claims }, key.privateKey);

function refuses(proof: string | undefined, code: string, c: DpopCheck = check()): void {
  assert.throws(() => verifyDpopProof(proof, c), (error: unknown) => {
    assert.ok(error instanceof MandateError);
    assert.equal(error.code, code, error.message);
    assert.equal(error.oauthError, 'invalid_dpop_proof');
    return true;
  });
}

describe('DPoP proofs', () => {
  it('accepts a fresh proof and names its key thumbprint', () => {
    assert.equal(verifyDpopProof(dpopProof(key, 'POST', URL_), check()).jkt, key.kid);
  });

  it('refuses a replay within the window', () => {
    const c = check();
    const proof = dpopProof(key, 'POST', URL_);
    verifyDpopProof(proof, c);
    refuses(proof, 'dpop_replayed', c);
  });

  it('refuses the wrong method and the wrong URL', () => {
    refuses(dpopProof(key, 'PUT', URL_), 'dpop_htm_mismatch');
    refuses(dpopProof(key, 'POST', 'https://mandate.example/oauth/revoke'), 'dpop_htu_mismatch');
    refuses(dpopProof(key, 'POST', 'https://evil.example/oauth/token'), 'dpop_htu_mismatch');
  });

  it('compares URLs without query or fragment, case-insensitive host, default port', () => {
    assert.ok(verifyDpopProof(dpopProof(key, 'POST', 'HTTPS://Mandate.Example:443/oauth/token?x=1#f'), check()));
    assert.equal(normalizeHtu('http://a.example:80/p?q'), 'http://a.example/p');
    assert.equal(normalizeHtu('ftp://a.example/p'), null);
  });

  it('refuses stale, future and pre-start proofs', () => {
    refuses(dpopProof(key, 'POST', URL_, undefined, nowSeconds() - 120), 'dpop_iat_stale');
    refuses(dpopProof(key, 'POST', URL_, undefined, nowSeconds() + 120), 'dpop_iat_stale');
    refuses(dpopProof(key, 'POST', URL_, undefined, nowSeconds() - 10), 'dpop_iat_stale', check({ notBefore: nowSeconds() }));
  });

  it('refuses a wrong typ, a missing jti and a missing proof', () => {
    refuses(proofWith({}, { typ: 'JWT' }), 'dpop_typ');
    refuses(proofWith({ jti: undefined }), 'dpop_jti_missing');
    refuses(undefined, 'dpop_missing');
    refuses('not.a.jwt', 'dpop_malformed');
  });

  it('refuses a proof carrying a private key, or signed by another key than it carries', () => {
    refuses(proofWith({}, { jwk: key.privateJwk }), 'dpop_signature_invalid');
    refuses(proofWith({}, { jwk: generateAgentKey().publicJwk }), 'dpop_signature_invalid');
  });

  it('checks ath against the presented token', () => {
    const proof = dpopProof(key, 'POST', URL_, 'token-a');
    refuses(proof, 'dpop_ath_mismatch', check({ accessToken: 'token-b' }));
    assert.ok(verifyDpopProof(dpopProof(key, 'POST', URL_, 'token-a'), check({ accessToken: 'token-a' })));
  });
});
