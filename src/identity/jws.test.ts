// The compact-JWS primitives every token check rests on: what they refuse, and with which code.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createHmac, generateKeyPairSync, sign as cryptoSign } from 'node:crypto';
import { MandateError } from '../errors.ts';
import { assertKeyFitsAlgorithm, decodeJws, MAX_TOKEN_BYTES, signJws, verifySignature } from './jws.ts';

const ec256 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ec384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
const ed = generateKeyPairSync('ed25519');
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
const claims = { sub: 'alice', n: 1 };

/** Asserts `fn` throws a MandateError with exactly this code. */
function refuses(fn: () => unknown, code: string): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof MandateError, `expected a MandateError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    return true;
  });
}

describe('signJws / verifySignature', () => {
  for (const [alg, pair] of [['ES256', ec256], ['ES384', ec384], ['EdDSA', ed], ['RS256', rsa], ['PS256', rsa]] as const) {
    it(`round-trips ${alg}`, () => {
      const token = signJws({ alg, typ: 'JWT' }, claims, pair.privateKey);
      const decoded = decodeJws(token, [alg]);
      assert.deepEqual(decoded.payload, claims);
      assert.doesNotThrow(() => verifySignature(decoded, pair.publicKey));
    });
  }

  it('refuses a signature made by another key', () => {
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const token = signJws({ alg: 'ES256' }, claims, other.privateKey);
    refuses(() => verifySignature(decodeJws(token, ['ES256']), ec256.publicKey), 'token_signature_invalid');
  });

  it('refuses a tampered payload', () => {
    const [h, , s] = signJws({ alg: 'ES256' }, claims, ec256.privateKey).split('.');
    const tampered = `${h}.${b64({ ...claims, sub: 'mallory' })}.${s}`;
    refuses(() => verifySignature(decodeJws(tampered, ['ES256']), ec256.publicKey), 'token_signature_invalid');
  });

  it('refuses an ES256 signature in DER form (JWS requires the raw r||s form)', () => {
    const signingInput = `${b64({ alg: 'ES256' })}.${b64(claims)}`;
    const der = cryptoSign('sha256', Buffer.from(signingInput), ec256.privateKey);
    refuses(() => verifySignature(decodeJws(`${signingInput}.${der.toString('base64url')}`, ['ES256']), ec256.publicKey), 'token_signature_invalid');
  });
});

describe('decodeJws refusals', () => {
  it('refuses a token over the size limit before parsing it', () => {
    refuses(() => decodeJws('x'.repeat(MAX_TOKEN_BYTES + 1), ['ES256']), 'token_too_large');
  });

  it('accepts a token right at the size limit', () => {
    const header = b64({ alg: 'ES256' });
    const room = MAX_TOKEN_BYTES - header.length - 2 - 86; // two dots and a 64-byte signature
    const pad = 'x'.repeat(Math.floor((room * 3) / 4) - JSON.stringify({ ...claims, pad: '' }).length);
    const token = signJws({ alg: 'ES256' }, { ...claims, pad }, ec256.privateKey);
    assert.ok(token.length <= MAX_TOKEN_BYTES && token.length > MAX_TOKEN_BYTES - 4, String(token.length));
    assert.equal(decodeJws(token, ['ES256']).payload.sub, 'alice');
  });

  it('refuses something that is not three base64url parts', () => {
    refuses(() => decodeJws('a.b', ['ES256']), 'token_malformed');
    refuses(() => decodeJws('a.b.c.d', ['ES256']), 'token_malformed');
    refuses(() => decodeJws('a+b.c.d', ['ES256']), 'token_malformed');
  });

  it('refuses an empty token', () => {
    refuses(() => decodeJws('', ['ES256']), 'token_malformed');
  });

  it('reports alg none as a refused algorithm, not as malformed', () => {
    refuses(() => decodeJws(`${b64({ alg: 'none' })}.${b64(claims)}.`, ['ES256']), 'token_alg_not_allowed');
  });

  it('refuses HS256 even when a valid HMAC is attached', () => {
    const signingInput = `${b64({ alg: 'HS256' })}.${b64(claims)}`;
    const mac = createHmac('sha256', ec256.publicKey.export({ format: 'pem', type: 'spki' })).update(signingInput).digest('base64url');
    refuses(() => decodeJws(`${signingInput}.${mac}`, ['ES256']), 'token_alg_not_allowed');
  });

  it('refuses an algorithm outside the call site allow-list', () => {
    const token = signJws({ alg: 'RS256' }, claims, rsa.privateKey);
    refuses(() => decodeJws(token, ['ES256']), 'token_alg_not_allowed');
  });

  it('refuses a header without alg', () => {
    refuses(() => decodeJws(`${b64({ typ: 'JWT' })}.${b64(claims)}.c2ln`, ['ES256']), 'token_malformed');
  });

  it('refuses crit extensions', () => {
    refuses(() => decodeJws(`${b64({ alg: 'ES256', crit: ['exp'], exp: 1 })}.${b64(claims)}.c2ln`, ['ES256']), 'token_malformed');
  });

  it('refuses unencoded payloads (b64)', () => {
    refuses(() => decodeJws(`${b64({ alg: 'ES256', b64: false })}.${b64(claims)}.c2ln`, ['ES256']), 'token_malformed');
  });

  it('refuses a signed token with an empty signature', () => {
    refuses(() => decodeJws(`${b64({ alg: 'ES256' })}.${b64(claims)}.`, ['ES256']), 'token_malformed');
  });

  it('refuses a header or payload that is not a JSON object', () => {
    refuses(() => decodeJws(`${Buffer.from('not json').toString('base64url')}.${b64(claims)}.c2ln`, ['ES256']), 'token_malformed');
    refuses(() => decodeJws(`${b64({ alg: 'ES256' })}.${b64(['sub'])}.c2ln`, ['ES256']), 'token_malformed');
    refuses(() => decodeJws(`${b64({ alg: 'ES256' })}.${b64(null)}.c2ln`, ['ES256']), 'token_malformed');
  });
});

describe('assertKeyFitsAlgorithm', () => {
  it('refuses an RSA key for ES256', () => {
    refuses(() => assertKeyFitsAlgorithm('ES256', rsa.publicKey), 'token_key_mismatch');
  });

  it('refuses a P-384 key for ES256', () => {
    refuses(() => assertKeyFitsAlgorithm('ES256', ec384.publicKey), 'token_key_mismatch');
  });

  it('refuses an RSA key shorter than 2048 bits', () => {
    const weak = generateKeyPairSync('rsa', { modulusLength: 1024 });
    refuses(() => assertKeyFitsAlgorithm('RS256', weak.publicKey), 'token_key_mismatch');
  });

  it('refuses an EC key for EdDSA', () => {
    refuses(() => assertKeyFitsAlgorithm('EdDSA', ec256.publicKey), 'token_key_mismatch');
  });

  it('remembers fit per algorithm: a key that fits ES256 is still refused for ES384', () => {
    const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    assert.doesNotThrow(() => assertKeyFitsAlgorithm('ES256', pair.publicKey));
    refuses(() => assertKeyFitsAlgorithm('ES384', pair.publicKey), 'token_key_mismatch');
  });

  it('refuses verification when the key does not fit the header alg', () => {
    const token = signJws({ alg: 'ES384' }, claims, ec384.privateKey);
    refuses(() => verifySignature(decodeJws(token, ['ES256', 'ES384']), ec256.publicKey), 'token_key_mismatch');
  });
});
