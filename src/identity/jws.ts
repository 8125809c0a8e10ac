// Compact JWS (RFC 7515) signing and verification on node:crypto's synchronous
// primitives. The token service signs and verifies on every exchange, and node:crypto
// is several times faster than the WebCrypto path; this file keeps that fast path
// small and strict: an explicit algorithm allow-list per call site, no `crit`, no
// unencoded payloads, no embedded keys unless the caller asks for them (DPoP).
import { sign as cryptoSign, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { MandateError } from '../errors.ts';

export type JwsAlgorithm = 'ES256' | 'ES384' | 'ES512' | 'EdDSA' | 'RS256' | 'RS384' | 'RS512' | 'PS256' | 'PS384' | 'PS512';

export interface JwsHeader {
  alg: string;
  typ?: string;
  kid?: string;
  jwk?: unknown;
  [member: string]: unknown;
}

export interface DecodedJws {
  header: JwsHeader;
  payload: Record<string, unknown>;
  signingInput: string;
  signature: Buffer;
}

/** Tokens larger than this are refused before any parsing or crypto. */
export const MAX_TOKEN_BYTES = 8192;

// The signature part may be empty here so that `alg: none` is reported as such, not as malformed.
const SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

function digestOf(alg: string): string | null {
  switch (alg) {
    case 'ES256': case 'RS256': case 'PS256': return 'sha256';
    case 'ES384': case 'RS384': case 'PS384': return 'sha384';
    case 'ES512': case 'RS512': case 'PS512': return 'sha512';
    case 'EdDSA': return null;
    default: throw new MandateError('token_alg_not_allowed', `algorithm ${alg} is not supported`);
  }
}

function keyOptions(alg: string, key: KeyObject): KeyObject | { key: KeyObject; dsaEncoding?: 'ieee-p1363'; padding?: number; saltLength?: number } {
  if (alg.startsWith('ES')) return { key, dsaEncoding: 'ieee-p1363' };
  if (alg.startsWith('PS')) return { key, padding: 6 /* RSA_PKCS1_PSS_PADDING */, saltLength: -1 /* RSA_PSS_SALTLEN_DIGEST */ };
  return key;
}

const EXPECTED_KEY: Record<string, { type: string; curve?: string }> = {
  ES256: { type: 'ec', curve: 'prime256v1' },
  ES384: { type: 'ec', curve: 'secp384r1' },
  ES512: { type: 'ec', curve: 'secp521r1' },
  EdDSA: { type: 'ed25519' },
};

/** Key details are costly to read from a KeyObject; remember each key's answer per algorithm. */
const fitting = new WeakMap<KeyObject, Set<string>>();

/** Refuses a key that does not belong to the algorithm (e.g. an RSA key offered for ES256). */
export function assertKeyFitsAlgorithm(alg: string, key: KeyObject): void {
  if (fitting.get(key)?.has(alg)) return;
  const expected = EXPECTED_KEY[alg] ?? (alg.startsWith('RS') || alg.startsWith('PS') ? { type: 'rsa' } : undefined);
  const details = key.asymmetricKeyDetails;
  const fits = expected !== undefined
    && (key.asymmetricKeyType === expected.type || (expected.type === 'rsa' && key.asymmetricKeyType === 'rsa-pss'))
    && (expected.curve === undefined || details?.namedCurve === expected.curve)
    && (expected.type !== 'rsa' || (details?.modulusLength ?? 0) >= 2048);
  if (!fits) throw new MandateError('token_key_mismatch', `the key does not fit algorithm ${alg}`);
  const known = fitting.get(key) ?? new Set<string>();
  known.add(alg);
  fitting.set(key, known);
}

const encodeJson = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

// ES256 signatures travel as r ‖ s (IEEE P1363, 64 bytes); node:crypto makes and checks
// DER by default. Giving node:crypto the bare KeyObject and converting here is about twice
// as fast as passing `{ key, dsaEncoding: 'ieee-p1363' }`: for an options object, Node
// (22–24) runs two brand checks that throw and catch before it finds the key.
const ES256_PART = 32;

/** DER `SEQUENCE { INTEGER r, INTEGER s }` of a 64-byte ES256 signature; null for any other length. */
function derFromEs256(signature: Buffer): Buffer | null {
  if (signature.length !== 2 * ES256_PART) return null;
  const integer = (part: Buffer): Buffer => {
    let start = 0;
    while (start < part.length - 1 && part[start] === 0) start++;
    const value = part.subarray(start);
    const pad = ((value[0] as number) & 0x80) !== 0 ? 1 : 0;
    return Buffer.concat([Buffer.from([0x02, value.length + pad]), Buffer.alloc(pad), value]);
  };
  const body = Buffer.concat([integer(signature.subarray(0, ES256_PART)), integer(signature.subarray(ES256_PART))]);
  return Buffer.concat([Buffer.from([0x30, body.length]), body]);
}

/** r ‖ s of a DER ES256 signature as node:crypto makes it (lengths below 128, short form). */
function es256FromDer(der: Buffer): Buffer {
  const out = Buffer.alloc(2 * ES256_PART);
  let offset = 2;
  for (const at of [0, ES256_PART]) {
    const length = der[offset + 1] as number;
    let value = der.subarray(offset + 2, offset + 2 + length);
    if (value.length > ES256_PART) value = value.subarray(value.length - ES256_PART);
    value.copy(out, at + ES256_PART - value.length);
    offset += 2 + length;
  }
  return out;
}

export function signJws(header: JwsHeader, payload: Record<string, unknown>, key: KeyObject): string {
  const signingInput = `${encodeJson(header)}.${encodeJson(payload)}`;
  const signature = header.alg === 'ES256'
    ? es256FromDer(cryptoSign('sha256', Buffer.from(signingInput), key))
    : cryptoSign(digestOf(header.alg), Buffer.from(signingInput), keyOptions(header.alg, key));
  return `${signingInput}.${signature.toString('base64url')}`;
}

function parseJsonPart(part: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    throw new MandateError('token_malformed', `the token ${what} is not valid JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new MandateError('token_malformed', `the token ${what} is not a JSON object`);
  return value as Record<string, unknown>;
}

/** Splits and parses a compact JWS without verifying it. */
export function decodeJws(token: string, allowed: readonly JwsAlgorithm[]): DecodedJws {
  if (typeof token !== 'string' || token.length === 0) throw new MandateError('token_malformed', 'no token was given');
  if (token.length > MAX_TOKEN_BYTES) throw new MandateError('token_too_large', `the token is larger than ${MAX_TOKEN_BYTES} bytes`);
  if (!SHAPE.test(token)) throw new MandateError('token_malformed', 'the token is not a compact JWS (three base64url parts)');
  const [h, p, s] = token.split('.') as [string, string, string];
  const header = parseJsonPart(h, 'header') as JwsHeader;
  if (typeof header.alg !== 'string') throw new MandateError('token_malformed', 'the token header has no "alg"');
  if (!(allowed as readonly string[]).includes(header.alg)) {
    throw new MandateError('token_alg_not_allowed', `algorithm ${header.alg} is not accepted here (accepted: ${allowed.join(', ')})`);
  }
  if ('crit' in header) throw new MandateError('token_malformed', 'the token header carries "crit" extensions, which are not supported');
  if ('b64' in header) throw new MandateError('token_malformed', 'unencoded payloads are not supported');
  if (s.length === 0) throw new MandateError('token_malformed', 'the token has no signature');
  const payload = parseJsonPart(p, 'payload');
  return { header, payload, signingInput: `${h}.${p}`, signature: Buffer.from(s, 'base64url') };
}

export function verifySignature(decoded: DecodedJws, key: KeyObject): void {
  assertKeyFitsAlgorithm(decoded.header.alg, key);
  let valid: boolean;
  try {
    if (decoded.header.alg === 'ES256') {
      const der = derFromEs256(decoded.signature);
      valid = der !== null && cryptoVerify('sha256', Buffer.from(decoded.signingInput), key, der);
    } else {
      valid = cryptoVerify(digestOf(decoded.header.alg), Buffer.from(decoded.signingInput), keyOptions(decoded.header.alg, key), decoded.signature);
    }
  } catch {
    valid = false;
  }
  if (!valid) throw new MandateError('token_signature_invalid', 'the token signature does not verify');
}
