// Ed25519 keys as raw 32-byte values (RFC 8032), which is how signed notes encode them,
// wrapped for node:crypto in their fixed DER prefixes.
import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';

const PKCS8_SEED_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export const ED25519_KEY_SIZE = 32;

export const privateKeyFromSeed = (seed: Uint8Array): KeyObject => createPrivateKey({ key: Buffer.concat([PKCS8_SEED_PREFIX, seed]), format: 'der', type: 'pkcs8' });

export const publicKeyFromRaw = (raw: Uint8Array): KeyObject => createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' });

export const rawPublicKey = (key: KeyObject): Uint8Array => new Uint8Array(createPublicKey(key).export({ format: 'der', type: 'spki' }).subarray(SPKI_PREFIX.length));

export const signEd25519 = (key: KeyObject, message: Uint8Array): Uint8Array => new Uint8Array(sign(null, message, key));

export function verifyEd25519(key: KeyObject, message: Uint8Array, signature: Uint8Array): boolean {
  if (signature.length !== 64) return false;
  try {
    return verify(null, message, key, signature);
  } catch {
    return false;
  }
}
