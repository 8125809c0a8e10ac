// Envelope encryption of credential secrets. Each credential has its own random
// 256-bit data key; the secret is sealed with it under AES-256-GCM (random 96-bit
// nonce), with additional data that names the credential, its server and where it is
// injected, so a sealed secret copied onto another credential (or another server)
// does not open. The data key itself is wrapped with the key-encryption key (kek.ts),
// also AES-256-GCM, with additional data naming the KEK and the credential. Rotating
// the KEK rewraps data keys only; the sealed secrets are left as they are.
//
// Layout of both blobs: version (1 byte) ‖ nonce (12) ‖ ciphertext ‖ tag (16).
// Plaintext data keys are overwritten once used; the caller overwrites the secret.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { MandateError } from '../errors.ts';
import type { Kek } from './kek.ts';

const VERSION = 1;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const DATA_KEY_BYTES = 32;

/** What a sealed secret is bound to: it opens only for this credential, on this server, injected this way. */
export interface SealBinding {
  credentialId: string;
  server: string;
  /** Where it is injected, e.g. `header:authorization` or `env:GITHUB_TOKEN`. */
  target: string;
}

export interface Sealed {
  /** The secret under the data key. */
  sealed: Buffer;
  /** The data key under the KEK. */
  wrappedKey: Buffer;
  kekId: string;
}

const secretAad = (b: SealBinding): Buffer => Buffer.from(`mandate credential secret v1\0${b.credentialId}\0${b.server}\0${b.target}`, 'utf8');
const keyAad = (kek: Kek, credentialId: string): Buffer => Buffer.from(`mandate credential data key v1\0${kek.id}\0${credentialId}`, 'utf8');

const tampered = (credentialId: string, what: string): MandateError =>
  new MandateError('credential_tampered', `credential ${credentialId} does not unseal: its ${what} was altered or belongs to another credential`, { status: 503 });

function encrypt(key: Buffer, plaintext: Buffer, aad: Buffer): Buffer {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([Buffer.of(VERSION), nonce, body, cipher.getAuthTag()]);
}

/** The plaintext, or null when the blob is malformed or does not authenticate. */
function decrypt(key: Buffer, blob: Uint8Array, aad: Buffer): Buffer | null {
  const bytes = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
  if (bytes.length < 1 + NONCE_BYTES + TAG_BYTES || bytes[0] !== VERSION) return null;
  const nonce = bytes.subarray(1, 1 + NONCE_BYTES);
  const tag = bytes.subarray(bytes.length - TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  decipher.setAAD(aad);
  decipher.setAuthTag(tag);
  const plaintext = decipher.update(bytes.subarray(1 + NONCE_BYTES, bytes.length - TAG_BYTES));
  try {
    return Buffer.concat([plaintext, decipher.final()]);
  } catch {
    return null;
  } finally {
    plaintext.fill(0);
  }
}

/** Seals `secret` for the credential under a fresh data key wrapped with `kek`. */
export function seal(secret: Buffer, binding: SealBinding, kek: Kek): Sealed {
  const dataKey = randomBytes(DATA_KEY_BYTES);
  try {
    return { sealed: encrypt(dataKey, secret, secretAad(binding)), wrappedKey: encrypt(kek.key, dataKey, keyAad(kek, binding.credentialId)), kekId: kek.id };
  } finally {
    dataKey.fill(0);
  }
}

function unwrapDataKey(wrappedKey: Uint8Array, credentialId: string, kek: Kek): Buffer {
  const dataKey = decrypt(kek.key, wrappedKey, keyAad(kek, credentialId));
  if (dataKey === null || dataKey.length !== DATA_KEY_BYTES) {
    dataKey?.fill(0);
    throw tampered(credentialId, 'data key');
  }
  return dataKey;
}

/** The secret (the caller overwrites it once used); `kek` must be the key the data key is wrapped with. */
export function unseal(stored: { sealed: Uint8Array; wrappedKey: Uint8Array }, binding: SealBinding, kek: Kek): Buffer {
  const dataKey = unwrapDataKey(stored.wrappedKey, binding.credentialId, kek);
  try {
    const secret = decrypt(dataKey, stored.sealed, secretAad(binding));
    if (secret === null) throw tampered(binding.credentialId, 'sealed secret');
    return secret;
  } finally {
    dataKey.fill(0);
  }
}

/** The data key unwrapped with `from` and wrapped again with `to`; the secret is not touched. */
export function rewrap(wrappedKey: Uint8Array, credentialId: string, from: Kek, to: Kek): Buffer {
  const dataKey = unwrapDataKey(wrappedKey, credentialId, from);
  try {
    return encrypt(to.key, dataKey, keyAad(to, credentialId));
  } finally {
    dataKey.fill(0);
  }
}
