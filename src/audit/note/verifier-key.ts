// The verifier key encoding of golang.org/x/mod/sumdb/note, used across the C2SP
// ecosystem (witnesses, tlog tooling): `<name>+<hex key ID>+<base64(0x01 || public key)>`.
import type { KeyObject } from 'node:crypto';
import { ledgerError } from '../ledger-error.ts';
import { decodeBase64, encodeBase64 } from './base64.ts';
import { ED25519_KEY_SIZE, publicKeyFromRaw, verifyEd25519 } from './ed25519.ts';
import { ED25519, formatKeyId, noteKeyId } from './key-id.ts';
import { isValidKeyName } from './key-name.ts';

export interface NoteVerifier {
  readonly name: string;
  readonly keyId: number;
  /** The raw 32-byte Ed25519 public key. */
  readonly publicKey: Uint8Array;
  verify(text: Uint8Array, signature: Uint8Array): boolean;
}

export function ed25519Verifier(name: string, publicKey: Uint8Array): NoteVerifier {
  if (!isValidKeyName(name)) throw ledgerError('key_malformed', `key name ${JSON.stringify(name)} is empty or holds a space, a plus sign or a control character`);
  if (publicKey.length !== ED25519_KEY_SIZE) throw ledgerError('key_malformed', `an Ed25519 public key is ${ED25519_KEY_SIZE} bytes, not ${publicKey.length}`);
  const key: KeyObject = publicKeyFromRaw(publicKey);
  return {
    name,
    keyId: noteKeyId(name, ED25519, publicKey),
    publicKey: new Uint8Array(publicKey),
    verify: (text, signature) => verifyEd25519(key, text, signature),
  };
}

export function formatVerifierKey(verifier: Pick<NoteVerifier, 'name' | 'publicKey'>): string {
  const key = ed25519Verifier(verifier.name, verifier.publicKey);
  return `${key.name}+${formatKeyId(key.keyId)}+${encodeBase64(new Uint8Array([ED25519, ...key.publicKey]))}`;
}

/** Splits at the first count-1 plus signs (the last field keeps any further ones). */
export function splitFields(key: string, count: number): string[] {
  const fields: string[] = [];
  let rest = key;
  while (fields.length < count - 1) {
    const plus = rest.indexOf('+');
    if (plus < 0) break;
    fields.push(rest.slice(0, plus));
    rest = rest.slice(plus + 1);
  }
  fields.push(rest);
  return fields;
}

export function parseVerifierKey(vkey: string): NoteVerifier {
  // The base64 key may itself hold plus signs: only the first two separate fields.
  const parts = splitFields(vkey, 3);
  if (parts.length !== 3) throw ledgerError('key_malformed', 'a verifier key is <name>+<key ID in hex>+<base64 key>');
  const [name, id, encoded] = parts as [string, string, string];
  if (!isValidKeyName(name)) throw ledgerError('key_malformed', `verifier key name ${JSON.stringify(name)} is empty or holds a space or a control character`);
  if (!/^[0-9a-f]{8}$/.test(id)) throw ledgerError('key_malformed', `verifier key ID ${JSON.stringify(id)} is not 8 lowercase hex digits`);
  const key = decodeBase64(encoded, 'verifier key', 'key_malformed');
  if (key[0] !== ED25519) throw ledgerError('key_malformed', `verifier key type ${key.length === 0 ? 'is missing' : `0x${(key[0] as number).toString(16).padStart(2, '0')} is not Ed25519 (0x01)`}`);
  const publicKey = key.subarray(1);
  if (publicKey.length !== ED25519_KEY_SIZE) throw ledgerError('key_malformed', `an Ed25519 verifier key is ${ED25519_KEY_SIZE} bytes, not ${publicKey.length}`);
  const verifier = ed25519Verifier(name, publicKey);
  if (formatKeyId(verifier.keyId) !== id) throw ledgerError('key_malformed', `verifier key ID ${id} is not the ID of its key (${formatKeyId(verifier.keyId)})`);
  return verifier;
}
