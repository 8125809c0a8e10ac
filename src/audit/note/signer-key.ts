// The signer key encoding of golang.org/x/mod/sumdb/note:
// `PRIVATE+KEY+<name>+<hex key ID>+<base64(0x01 || 32-byte Ed25519 seed)>`, where the
// key ID is that of the public key. It is a secret: whoever holds it can sign
// checkpoints as the log.
import { randomBytes, type KeyObject } from 'node:crypto';
import { ledgerError } from '../ledger-error.ts';
import { decodeBase64, encodeBase64 } from './base64.ts';
import { ED25519_KEY_SIZE, privateKeyFromSeed, rawPublicKey, signEd25519 } from './ed25519.ts';
import { ED25519, formatKeyId, noteKeyId } from './key-id.ts';
import { isValidKeyName } from './key-name.ts';
import { formatVerifierKey, splitFields } from './verifier-key.ts';

export interface NoteSigner {
  readonly name: string;
  readonly keyId: number;
  /** The raw 32-byte Ed25519 public key. */
  readonly publicKey: Uint8Array;
  sign(text: Uint8Array): Uint8Array;
}

export function ed25519Signer(name: string, seed: Uint8Array): NoteSigner {
  if (!isValidKeyName(name)) throw ledgerError('key_malformed', `key name ${JSON.stringify(name)} is empty or holds a space, a plus sign or a control character`);
  if (seed.length !== ED25519_KEY_SIZE) throw ledgerError('key_malformed', `an Ed25519 seed is ${ED25519_KEY_SIZE} bytes, not ${seed.length}`);
  const key: KeyObject = privateKeyFromSeed(seed);
  const publicKey = rawPublicKey(key);
  return { name, keyId: noteKeyId(name, ED25519, publicKey), publicKey, sign: (text) => signEd25519(key, text) };
}

export function parseSignerKey(skey: string): NoteSigner {
  const parts = splitFields(skey, 5);
  if (parts.length !== 5 || parts[0] !== 'PRIVATE' || parts[1] !== 'KEY') throw ledgerError('key_malformed', 'a signer key is PRIVATE+KEY+<name>+<key ID in hex>+<base64 key>');
  const [, , name, id, encoded] = parts as [string, string, string, string, string];
  if (!isValidKeyName(name)) throw ledgerError('key_malformed', `signer key name ${JSON.stringify(name)} is empty or holds a space or a control character`);
  if (!/^[0-9a-f]{8}$/.test(id)) throw ledgerError('key_malformed', `signer key ID ${JSON.stringify(id)} is not 8 lowercase hex digits`);
  const key = decodeBase64(encoded, 'signer key', 'key_malformed');
  if (key[0] !== ED25519) throw ledgerError('key_malformed', `signer key type ${key.length === 0 ? 'is missing' : `0x${(key[0] as number).toString(16).padStart(2, '0')} is not Ed25519 (0x01)`}`);
  const seed = key.subarray(1);
  if (seed.length !== ED25519_KEY_SIZE) throw ledgerError('key_malformed', `an Ed25519 signer key is a ${ED25519_KEY_SIZE}-byte seed, not ${seed.length} bytes`);
  const signer = ed25519Signer(name, seed);
  if (formatKeyId(signer.keyId) !== id) throw ledgerError('key_malformed', `signer key ID ${id} is not the ID of its public key (${formatKeyId(signer.keyId)})`);
  return signer;
}

export function formatSignerKey(name: string, seed: Uint8Array): string {
  const signer = ed25519Signer(name, seed);
  return `PRIVATE+KEY+${name}+${formatKeyId(signer.keyId)}+${encodeBase64(new Uint8Array([ED25519, ...seed]))}`;
}

/** A new Ed25519 key pair for a log or witness named `name` (e.g. `audit.example.com/mandate`). */
export function generateNoteKey(name: string): { signerKey: string; verifierKey: string } {
  const seed = new Uint8Array(randomBytes(ED25519_KEY_SIZE));
  const signerKey = formatSignerKey(name, seed);
  return { signerKey, verifierKey: formatVerifierKey(parseSignerKey(signerKey)) };
}
