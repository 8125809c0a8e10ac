// JSON Web Keys (RFC 7517) as Mandate uses them: import to node:crypto key objects,
// RFC 7638 thumbprints, and the check that a key offered as public has no private part.
import { createHash, createPublicKey, type KeyObject, type JsonWebKey } from 'node:crypto';
import { MandateError } from '../errors.ts';

export interface JWK {
  kty: string;
  crv?: string;
  x?: string;
  y?: string;
  d?: string;
  n?: string;
  e?: string;
  kid?: string;
  alg?: string;
  use?: string;
  [member: string]: unknown;
}

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

/** The required members of each key type, in the lexicographic order RFC 7638 §3.2 prescribes. */
const THUMBPRINT_MEMBERS: Record<string, readonly string[]> = {
  EC: ['crv', 'kty', 'x', 'y'],
  OKP: ['crv', 'kty', 'x'],
  RSA: ['e', 'kty', 'n'],
};

const thumbprints = new Map<string, string>();

/** RFC 7638 thumbprint (remembered per key: every DPoP proof carries its key). */
export function jwkThumbprint(jwk: JWK): string {
  const id = `${String(jwk.kty)}|${String(jwk.crv)}|${String(jwk.x)}|${String(jwk.y)}|${String(jwk.e)}|${String(jwk.n)}`;
  let thumbprint = thumbprints.get(id);
  if (thumbprint === undefined) {
    thumbprint = computeThumbprint(jwk);
    if (thumbprints.size >= 10_000) thumbprints.clear();
    thumbprints.set(id, thumbprint);
  }
  return thumbprint;
}

function computeThumbprint(jwk: JWK): string {
  const members = THUMBPRINT_MEMBERS[jwk.kty];
  if (!members) throw new MandateError('jwk_unsupported', `key type ${String(jwk.kty)} is not supported`);
  const canonical: Record<string, unknown> = {};
  for (const member of members) {
    if (typeof jwk[member] !== 'string') throw new MandateError('jwk_invalid', `key is missing its "${member}" member`);
    canonical[member] = jwk[member];
  }
  return createHash('sha256').update(JSON.stringify(canonical)).digest('base64url');
}

/**
 * Imported public keys by their defining members. The same agent keys arrive again and
 * again (client assertions, DPoP proofs); importing one costs more than verifying with it.
 */
const imported = new Map<string, KeyObject>();
const IMPORTED_LIMIT = 10_000;

/** Validates a public JWK (no private members, a supported key type) and returns its key object. */
export function importPublicJwk(jwk: unknown): KeyObject {
  const cacheKey = typeof jwk === 'object' && jwk !== null && !Array.isArray(jwk) ? definingMembers(jwk as JWK) : null;
  const cached = cacheKey === null ? undefined : imported.get(cacheKey);
  if (cached) return cached;
  const key = importUncached(jwk);
  if (cacheKey !== null) {
    if (imported.size >= IMPORTED_LIMIT) imported.clear();
    imported.set(cacheKey, key);
  }
  return key;
}

/** The members that define a public key; null when the JWK has any other key material. */
function definingMembers(jwk: JWK): string | null {
  if (PRIVATE_MEMBERS.some((member) => member in jwk)) return null;
  const members = THUMBPRINT_MEMBERS[jwk.kty];
  if (!members || members.some((m) => typeof jwk[m] !== 'string')) return null;
  return JSON.stringify(members.map((m) => jwk[m]));
}

function importUncached(jwk: unknown): KeyObject {
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) throw new MandateError('jwk_invalid', 'the key is not a JSON object');
  const key = jwk as JWK;
  if (PRIVATE_MEMBERS.some((member) => member in key)) throw new MandateError('jwk_private', 'the key contains private key material');
  if (!THUMBPRINT_MEMBERS[key.kty]) throw new MandateError('jwk_unsupported', `key type ${String(key.kty)} is not supported`);
  try {
    return createPublicKey({ key: key as JsonWebKey, format: 'jwk' });
  } catch (error) {
    throw new MandateError('jwk_invalid', 'the key is not a valid public JWK', { cause: error });
  }
}

/** Only the public members of a key, as published in a JWKS. */
export function publicPart(jwk: JWK): JWK {
  const result: JWK = { kty: jwk.kty };
  for (const [member, value] of Object.entries(jwk)) {
    if (!PRIVATE_MEMBERS.includes(member)) result[member] = value;
  }
  return result;
}
