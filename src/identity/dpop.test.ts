// DPoP proof verification (RFC 9449 §4.3): each refusal with its code, and the htu
// normalisation a client may rely on.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { dpopProof, generateAgentKey, type AgentKey } from '../client/agent-key.ts';
import { MandateError } from '../errors.ts';
import { accessTokenHash, normalizeHtu, verifyDpopProof, type DpopCheck } from './dpop.ts';
import { jwkThumbprint } from './jwk.ts';
import { signJws } from './jws.ts';
import { ReplayCache } from './replay-cache.ts';

const NOW = 1_800_000_000;
const URL_ = 'https://mandate.example/oauth/token';
const key = generateAgentKey();

const check = (overrides: Partial<DpopCheck> = {}): DpopCheck => ({
  method: 'POST', url: URL_, now: NOW, maxAge: 60, notBefore: NOW - 3600, replayCache: new ReplayCache(), ...overrides,
});

/** A proof with chosen claims and header, signed by `signer` (default: the agent key). */
function proofWith(claims: Record<string, unknown>, header: Record<string, unknown> = {}, signer: AgentKey = key): string {
  return signJws({ alg: 'ES256', typ: 'dpop+jwt', jwk: signer.publicJwk, ...header }, { jti: randomUUID(), htm: 'POST', htu: URL_, iat: NOW, ...claims }, signer.privateKey);
}

function refuses(fn: () => unknown, code: string): MandateError {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof MandateError, `expected a MandateError, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  assert.equal(caught.oauthError, 'invalid_dpop_proof');
  return caught;
}

describe('verifyDpopProof accepts', () => {
  it('a fresh proof, returning the thumbprint of its key', () => {
    const proof = dpopProof(key, 'POST', URL_, undefined, NOW);
    const verified = verifyDpopProof(proof, check());
    assert.equal(verified.jkt, key.kid);
    assert.equal(verified.jkt, jwkThumbprint(key.publicJwk));
  });

  it('a proof bound to the presented access token through ath', () => {
    const proof = dpopProof(key, 'GET', 'https://mandate.example/mcp/fs', 'the-token', NOW);
    assert.equal(verifyDpopProof(proof, check({ method: 'GET', url: 'https://mandate.example/mcp/fs', accessToken: 'the-token' })).jkt, key.kid);
  });

  it('an EdDSA proof', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const jwk = publicKey.export({ format: 'jwk' });
    const proof = signJws({ alg: 'EdDSA', typ: 'dpop+jwt', jwk }, { jti: randomUUID(), htm: 'POST', htu: URL_, iat: NOW }, privateKey);
    assert.equal(verifyDpopProof(proof, check()).jwk.kty, 'OKP');
  });
});

describe('verifyDpopProof refuses', () => {
  it('a missing proof', () => {
    refuses(() => verifyDpopProof(undefined, check()), 'dpop_missing');
    refuses(() => verifyDpopProof('', check()), 'dpop_missing');
  });

  it('a replayed proof', () => {
    const replayCache = new ReplayCache();
    const proof = dpopProof(key, 'POST', URL_, undefined, NOW);
    verifyDpopProof(proof, check({ replayCache }));
    refuses(() => verifyDpopProof(proof, check({ replayCache, now: NOW + 5 })), 'dpop_replayed');
  });

  it('a second proof reusing a jti with the same key', () => {
    const replayCache = new ReplayCache();
    const jti = randomUUID();
    verifyDpopProof(proofWith({ jti }), check({ replayCache }));
    refuses(() => verifyDpopProof(proofWith({ jti, iat: NOW + 1 }), check({ replayCache, now: NOW + 1 })), 'dpop_replayed');
  });

  it('the wrong htm', () => {
    refuses(() => verifyDpopProof(dpopProof(key, 'GET', URL_, undefined, NOW), check()), 'dpop_htm_mismatch');
  });

  it('an htm in another case (methods are case-sensitive)', () => {
    refuses(() => verifyDpopProof(dpopProof(key, 'post', URL_, undefined, NOW), check()), 'dpop_htm_mismatch');
  });

  it('the wrong htu path', () => {
    refuses(() => verifyDpopProof(dpopProof(key, 'POST', 'https://mandate.example/oauth/introspect', undefined, NOW), check()), 'dpop_htu_mismatch');
  });

  it('the wrong htu host', () => {
    refuses(() => verifyDpopProof(dpopProof(key, 'POST', 'https://evil.example/oauth/token', undefined, NOW), check()), 'dpop_htu_mismatch');
  });

  it('the wrong htu scheme', () => {
    refuses(() => verifyDpopProof(dpopProof(key, 'POST', 'http://mandate.example/oauth/token', undefined, NOW), check()), 'dpop_htu_mismatch');
  });

  it('a non-default port in htu', () => {
    refuses(() => verifyDpopProof(dpopProof(key, 'POST', 'https://mandate.example:8443/oauth/token', undefined, NOW), check()), 'dpop_htu_mismatch');
  });

  it('an htu that is not an http(s) URL', () => {
    refuses(() => verifyDpopProof(proofWith({ htu: 'mandate.example/oauth/token' }), check()), 'dpop_htu_mismatch');
    refuses(() => verifyDpopProof(proofWith({ htu: 'ftp://mandate.example/oauth/token' }), check()), 'dpop_htu_mismatch');
    refuses(() => verifyDpopProof(proofWith({ htu: 42 }), check()), 'dpop_htu_mismatch');
  });

  it('a stale iat', () => {
    refuses(() => verifyDpopProof(dpopProof(key, 'POST', URL_, undefined, NOW - 61), check()), 'dpop_iat_stale');
  });

  it('an iat in the future', () => {
    refuses(() => verifyDpopProof(dpopProof(key, 'POST', URL_, undefined, NOW + 61), check()), 'dpop_iat_stale');
  });

  it('a proof made before the server started (the replay cache cannot know it)', () => {
    refuses(() => verifyDpopProof(dpopProof(key, 'POST', URL_, undefined, NOW - 10), check({ notBefore: NOW - 5 })), 'dpop_iat_stale');
  });

  it('a missing or non-numeric iat', () => {
    refuses(() => verifyDpopProof(proofWith({ iat: undefined }), check()), 'dpop_iat_missing');
    refuses(() => verifyDpopProof(proofWith({ iat: String(NOW) }), check()), 'dpop_iat_missing');
  });

  it('a typ other than dpop+jwt', () => {
    refuses(() => verifyDpopProof(proofWith({}, { typ: 'JWT' }), check()), 'dpop_typ');
  });

  it('a proof without typ', () => {
    refuses(() => verifyDpopProof(proofWith({}, { typ: undefined }), check()), 'dpop_typ');
  });

  it('a private key in the jwk header', () => {
    const error = refuses(() => verifyDpopProof(proofWith({}, { jwk: key.privateJwk }), check()), 'dpop_signature_invalid');
    assert.match(error.message, /private/);
  });

  it('a proof without a jwk header', () => {
    refuses(() => verifyDpopProof(proofWith({}, { jwk: undefined }), check()), 'dpop_signature_invalid');
  });

  it('a proof whose signature is not by the key in its header', () => {
    const other = generateAgentKey();
    const forged = signJws({ alg: 'ES256', typ: 'dpop+jwt', jwk: key.publicJwk }, { jti: randomUUID(), htm: 'POST', htu: URL_, iat: NOW }, other.privateKey);
    refuses(() => verifyDpopProof(forged, check()), 'dpop_signature_invalid');
  });

  it('a proof with a symmetric key in its header', () => {
    refuses(() => verifyDpopProof(proofWith({}, { jwk: { kty: 'oct', k: 'c2VjcmV0' } }), check()), 'dpop_signature_invalid');
  });

  it('alg none', () => {
    const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');
    const unsigned = `${b64({ alg: 'none', typ: 'dpop+jwt', jwk: key.publicJwk })}.${b64({ jti: randomUUID(), htm: 'POST', htu: URL_, iat: NOW })}.`;
    refuses(() => verifyDpopProof(unsigned, check()), 'dpop_malformed');
  });

  it('a missing jti', () => {
    refuses(() => verifyDpopProof(proofWith({ jti: undefined }), check()), 'dpop_jti_missing');
  });

  it('a jti too short to be unique', () => {
    refuses(() => verifyDpopProof(proofWith({ jti: 'abc' }), check()), 'dpop_jti_missing');
  });

  it('an ath that is not the hash of the presented token', () => {
    const proof = dpopProof(key, 'POST', URL_, 'another-token', NOW);
    refuses(() => verifyDpopProof(proof, check({ accessToken: 'the-token' })), 'dpop_ath_mismatch');
  });

  it('a proof without ath when an access token is presented', () => {
    refuses(() => verifyDpopProof(dpopProof(key, 'POST', URL_, undefined, NOW), check({ accessToken: 'the-token' })), 'dpop_ath_mismatch');
  });

  it('a proof that is not a JWT', () => {
    refuses(() => verifyDpopProof('not.a.jwt', check()), 'dpop_malformed');
  });

  it('two proofs joined as one header value', () => {
    const twice = `${dpopProof(key, 'POST', URL_, undefined, NOW)}, ${dpopProof(key, 'POST', URL_, undefined, NOW)}`;
    refuses(() => verifyDpopProof(twice, check()), 'dpop_malformed');
  });
});

describe('a refused proof is not consumed', () => {
  it('a proof refused for a wrong ath still works once for its own token, and only once', () => {
    const replayCache = new ReplayCache();
    const proof = dpopProof(key, 'POST', URL_, 'the-token', NOW);
    refuses(() => verifyDpopProof(proof, check({ replayCache, accessToken: 'other' })), 'dpop_ath_mismatch');
    assert.equal(verifyDpopProof(proof, check({ replayCache, accessToken: 'the-token' })).jkt, key.kid);
    refuses(() => verifyDpopProof(proof, check({ replayCache, accessToken: 'the-token' })), 'dpop_replayed');
  });
});

describe('htu normalisation', () => {
  it('ignores the query and fragment of the proof htu', () => {
    assert.equal(verifyDpopProof(dpopProof(key, 'POST', `${URL_}?a=1#frag`, undefined, NOW), check()).jkt, key.kid);
  });

  it('ignores the query of the request URL', () => {
    assert.equal(verifyDpopProof(dpopProof(key, 'POST', URL_, undefined, NOW), check({ url: `${URL_}?state=x` })).jkt, key.kid);
  });

  it('compares scheme and host case-insensitively', () => {
    assert.equal(verifyDpopProof(dpopProof(key, 'POST', 'HTTPS://Mandate.EXAMPLE/oauth/token', undefined, NOW), check()).jkt, key.kid);
  });

  it('keeps the path case-sensitive', () => {
    refuses(() => verifyDpopProof(dpopProof(key, 'POST', 'https://mandate.example/OAuth/Token', undefined, NOW), check()), 'dpop_htu_mismatch');
  });

  it('drops the default https port', () => {
    assert.equal(verifyDpopProof(dpopProof(key, 'POST', 'https://mandate.example:443/oauth/token', undefined, NOW), check()).jkt, key.kid);
  });

  it('drops the default http port', () => {
    const url = 'http://127.0.0.1/oauth/token';
    assert.equal(verifyDpopProof(dpopProof(key, 'POST', 'http://127.0.0.1:80/oauth/token', undefined, NOW), check({ url })).jkt, key.kid);
  });

  it('normalizeHtu refuses non-URLs and other schemes', () => {
    assert.equal(normalizeHtu('not a url'), null);
    assert.equal(normalizeHtu('wss://mandate.example/x'), null);
    assert.equal(normalizeHtu('HTTPS://A.Example:443/P?q#f'), 'https://a.example/P');
  });

  it('accessTokenHash is base64url SHA-256', () => {
    assert.equal(accessTokenHash('abc'), 'ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0');
  });
});
