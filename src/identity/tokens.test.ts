// TokenService.verify against a real key ring in a real SQLite store: every forged,
// misused or stale token is refused with its precise code.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createHmac, createPrivateKey, createPublicKey, generateKeyPairSync, randomUUID, type JsonWebKey } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MandateError } from '../errors.ts';
import { SqliteStore } from '../store/sqlite/sqlite-store.ts';
import { jwkThumbprint, type JWK } from './jwk.ts';
import { MAX_TOKEN_BYTES, signJws } from './jws.ts';
import { generateSigningKey, KeyRing } from './keyring.ts';
import { TOKEN_TYP, TokenService, type TokenKind } from './tokens.ts';

const ISSUER = 'https://mandate.test';
const NOW = 1_800_000_000;
const TOLERANCE = 30;

let dir: string;
let store: SqliteStore;
let keys: KeyRing;
let tokens: TokenService;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mandate-tokens-'));
  store = new SqliteStore(join(dir, 'mandate.db'));
  await store.addSigningKey(generateSigningKey('current', NOW));
  await store.addSigningKey(generateSigningKey('next', NOW));
  keys = new KeyRing(store);
  await keys.load();
  tokens = new TokenService(keys, { issuer: ISSUER, clockTolerance: TOLERANCE });
});
after(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

function claims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { iss: ISSUER, sub: 'alice', aud: ISSUER, iat: NOW, exp: NOW + 600, jti: randomUUID(), ...overrides };
}

/** A token the service itself signs (a real one, or one with claims a test wants). */
const signed = (kind: TokenKind, overrides: Record<string, unknown> = {}): string => tokens.sign(kind, claims(overrides));

function refuses(fn: () => unknown, code: string): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof MandateError, `expected a MandateError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    return true;
  });
}

const verifyMandate = (token: string, now = NOW): Record<string, unknown> => tokens.verify('mandate', token, ISSUER, now);

describe('TokenService.verify accepts what it signed', () => {
  it('accepts a person token it issued and returns its claims', () => {
    const { token, claims: issued } = tokens.issuePerson('alice', 3600, NOW);
    assert.deepEqual(tokens.verify('person', token, ISSUER, NOW + 10), issued);
  });

  it('signs with ES256, the kind typ and the current kid', () => {
    const header = JSON.parse(Buffer.from(signed('mandate').split('.')[0] as string, 'base64url').toString()) as Record<string, unknown>;
    assert.deepEqual(header, { alg: 'ES256', typ: 'mandate+jwt', kid: keys.current.kid });
  });
});

describe('TokenService.verify refuses forged algorithms and keys', () => {
  it('refuses alg none', () => {
    const forged = `${b64({ alg: 'none', typ: TOKEN_TYP.mandate, kid: keys.current.kid })}.${b64(claims())}.`;
    refuses(() => verifyMandate(forged), 'token_alg_not_allowed');
  });

  it('refuses alg none with a junk signature part', () => {
    const forged = `${b64({ alg: 'none', typ: TOKEN_TYP.mandate, kid: keys.current.kid })}.${b64(claims())}.AAAA`;
    refuses(() => verifyMandate(forged), 'token_alg_not_allowed');
  });

  it('refuses HS256 signed with the public key bytes as the HMAC secret', () => {
    const publicJwk = keys.jwks(NOW).keys.find((k) => k.kid === keys.current.kid) as JWK;
    const pem = createPublicKey({ key: publicJwk as JsonWebKey, format: 'jwk' }).export({ format: 'pem', type: 'spki' });
    const signingInput = `${b64({ alg: 'HS256', typ: TOKEN_TYP.mandate, kid: keys.current.kid })}.${b64(claims())}`;
    const mac = createHmac('sha256', pem).update(signingInput).digest('base64url');
    refuses(() => verifyMandate(`${signingInput}.${mac}`), 'token_alg_not_allowed');
  });

  it('refuses HS256 signed with the published JWK as the HMAC secret', () => {
    const publicJwk = keys.jwks(NOW).keys.find((k) => k.kid === keys.current.kid) as JWK;
    const signingInput = `${b64({ alg: 'HS256', typ: TOKEN_TYP.mandate, kid: keys.current.kid })}.${b64(claims())}`;
    const mac = createHmac('sha256', JSON.stringify(publicJwk)).update(signingInput).digest('base64url');
    refuses(() => verifyMandate(`${signingInput}.${mac}`), 'token_alg_not_allowed');
  });

  it('refuses an unknown kid', () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    refuses(() => verifyMandate(signJws({ alg: 'ES256', typ: TOKEN_TYP.mandate, kid: 'no-such-key' }, claims(), privateKey)), 'token_kid_unknown');
  });

  it('refuses a kid with path traversal', () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    refuses(() => verifyMandate(signJws({ alg: 'ES256', typ: TOKEN_TYP.mandate, kid: '../../../../etc/passwd' }, claims(), privateKey)), 'token_kid_unknown');
  });

  it('refuses a kid with SQL text', () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    refuses(() => verifyMandate(signJws({ alg: 'ES256', typ: TOKEN_TYP.mandate, kid: "x' OR '1'='1' --" }, claims(), privateKey)), 'token_kid_unknown');
  });

  it('refuses a kid that is not a string', () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    refuses(() => verifyMandate(signJws({ alg: 'ES256', typ: TOKEN_TYP.mandate, kid: { $ne: null } as unknown as string }, claims(), privateKey)), 'token_kid_missing');
  });

  it('refuses a token without a kid', () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    refuses(() => verifyMandate(signJws({ alg: 'ES256', typ: TOKEN_TYP.mandate }, claims(), privateKey)), 'token_kid_missing');
  });

  it('refuses a well-formed signing key of another installation, under its own kid', () => {
    const foreign = generateSigningKey('current', NOW);
    const privateKey = createPrivateKey({ key: foreign.privateJwk as JsonWebKey, format: 'jwk' });
    refuses(() => verifyMandate(signJws({ alg: 'ES256', typ: TOKEN_TYP.mandate, kid: foreign.kid }, claims(), privateKey)), 'token_kid_unknown');
  });

  it('refuses a token embedding its own jwk (no kid), signed by that attacker key', () => {
    const attacker = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = attacker.publicKey.export({ format: 'jwk' });
    refuses(() => verifyMandate(signJws({ alg: 'ES256', typ: TOKEN_TYP.mandate, jwk }, claims(), attacker.privateKey)), 'token_kid_missing');
  });

  it('refuses a token embedding its own jwk under that key\'s thumbprint as kid', () => {
    const attacker = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = attacker.publicKey.export({ format: 'jwk' }) as JWK;
    const forged = signJws({ alg: 'ES256', typ: TOKEN_TYP.mandate, kid: jwkThumbprint(jwk), jwk }, claims(), attacker.privateKey);
    refuses(() => verifyMandate(forged), 'token_kid_unknown');
  });

  it('refuses a token embedding its own jwk under the published kid', () => {
    const attacker = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = attacker.publicKey.export({ format: 'jwk' });
    const forged = signJws({ alg: 'ES256', typ: TOKEN_TYP.mandate, kid: keys.current.kid, jwk }, claims(), attacker.privateKey);
    refuses(() => verifyMandate(forged), 'token_signature_invalid');
  });

  it('refuses a tampered payload', () => {
    const [h, , s] = signed('mandate', { may_act: { sub: 'spiffe://mandate.local/agent/a' } }).split('.');
    const tampered = `${h}.${b64(claims({ may_act: { sub: 'spiffe://mandate.local/agent/mallory' } }))}.${s}`;
    refuses(() => verifyMandate(tampered), 'token_signature_invalid');
  });

  it('refuses a tampered copy of a token it has already verified (and cached)', () => {
    const original = signed('mandate', { scope: 'fs/read_file' });
    assert.equal(verifyMandate(original).scope, 'fs/read_file');
    const [h, p, s] = original.split('.') as [string, string, string];
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
    refuses(() => verifyMandate(`${h}.${b64({ ...payload, scope: 'fs/*' })}.${s}`), 'token_signature_invalid');
  });

  it('refuses a token larger than 8192 bytes, even one it signed', () => {
    const huge = signed('mandate', { padding: 'x'.repeat(MAX_TOKEN_BYTES) });
    assert.ok(huge.length > MAX_TOKEN_BYTES);
    refuses(() => verifyMandate(huge), 'token_too_large');
  });
});

describe('TokenService.verify refuses stale or misaddressed tokens', () => {
  it('refuses an expired token', () => {
    refuses(() => verifyMandate(signed('mandate', { iat: NOW - 7200, exp: NOW - 3600 })), 'token_expired');
  });

  it('allows exp within the clock tolerance, and refuses it just past', () => {
    const token = signed('mandate', { iat: NOW - 600, exp: NOW });
    assert.equal(verifyMandate(token, NOW + TOLERANCE - 1).sub, 'alice');
    refuses(() => verifyMandate(token, NOW + TOLERANCE), 'token_expired');
  });

  it('refuses a token verified earlier once it has expired (the cache does not keep it alive)', () => {
    const token = signed('mandate', { exp: NOW + 60 });
    assert.equal(verifyMandate(token).sub, 'alice');
    refuses(() => verifyMandate(token, NOW + 60 + TOLERANCE), 'token_expired');
  });

  it('refuses a token whose nbf is in the future', () => {
    refuses(() => verifyMandate(signed('mandate', { nbf: NOW + 3600, exp: NOW + 7200 })), 'token_not_yet_valid');
  });

  it('refuses a token issued in the future (iat)', () => {
    refuses(() => verifyMandate(signed('mandate', { iat: NOW + 3600, exp: NOW + 7200 })), 'token_not_yet_valid');
  });

  it('refuses a token without exp', () => {
    refuses(() => verifyMandate(signed('mandate', { exp: undefined })), 'token_claim_missing');
  });

  it('refuses the wrong audience', () => {
    refuses(() => verifyMandate(signed('mandate', { aud: 'https://elsewhere.example' })), 'token_audience_mismatch');
  });

  it('refuses an audience list naming other parties too', () => {
    refuses(() => verifyMandate(signed('mandate', { aud: [ISSUER, 'https://elsewhere.example'] })), 'token_audience_mismatch');
  });

  it('refuses a task token for another resource', () => {
    const task = signed('task', { aud: `${ISSUER}/mcp/db` });
    refuses(() => tokens.verify('task', task, `${ISSUER}/mcp/fs`, NOW), 'token_audience_mismatch');
  });

  it('refuses another issuer', () => {
    refuses(() => verifyMandate(signed('mandate', { iss: 'https://other-mandate.example' })), 'token_issuer_mismatch');
  });

  it('refuses a token without sub', () => {
    refuses(() => verifyMandate(signed('mandate', { sub: undefined })), 'token_claim_missing');
  });
});

describe('TokenService.verify keeps the kinds of token apart', () => {
  it('refuses a person token presented as a mandate token', () => {
    refuses(() => verifyMandate(tokens.issuePerson('alice', 3600, NOW).token), 'token_type_mismatch');
  });

  it('refuses a mandate token presented as a person token', () => {
    refuses(() => tokens.verify('person', signed('mandate'), ISSUER, NOW), 'token_type_mismatch');
  });

  it('refuses a task token presented as a mandate token', () => {
    refuses(() => verifyMandate(signed('task')), 'token_type_mismatch');
  });

  it('refuses a person token as a mandate token after it was verified (and cached) as a person token', () => {
    const { token } = tokens.issuePerson('alice', 3600, NOW);
    assert.equal(tokens.verify('person', token, ISSUER, NOW).sub, 'alice');
    refuses(() => verifyMandate(token), 'token_type_mismatch');
  });

  it('refuses a mandate token as a person token after it was verified (and cached) as a mandate token', () => {
    const token = signed('mandate');
    assert.equal(verifyMandate(token).sub, 'alice');
    refuses(() => tokens.verify('person', token, ISSUER, NOW), 'token_type_mismatch');
  });

  it('still accepts the token as its real kind after a refused misuse', () => {
    const token = signed('mandate');
    refuses(() => tokens.verify('person', token, ISSUER, NOW), 'token_type_mismatch');
    assert.equal(verifyMandate(token).sub, 'alice');
  });

  it('refuses a token with a generic typ (JWT)', () => {
    const { kid, privateKey } = keys.current;
    refuses(() => verifyMandate(signJws({ alg: 'ES256', typ: 'JWT', kid }, claims(), privateKey)), 'token_type_mismatch');
  });

  it('refuses a token without typ', () => {
    const { kid, privateKey } = keys.current;
    refuses(() => verifyMandate(signJws({ alg: 'ES256', kid }, claims(), privateKey)), 'token_type_mismatch');
  });
});
