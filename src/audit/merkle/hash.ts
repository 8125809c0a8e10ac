// RFC 9162 §2.1.1: the hashes of a Merkle tree. A leaf and an interior node are
// hashed with different one-byte prefixes, so no leaf can pass for a node (second
// preimage resistance); the tree of no entries has the hash of the empty string.
import { hash } from 'node:crypto';
import { ledgerError } from '../ledger-error.ts';

export const HASH_SIZE = 32;

const sha256 = (data: Uint8Array): Uint8Array => hash('sha256', data, 'buffer');

/** MTH({}) = SHA-256() */
export const EMPTY_ROOT: Uint8Array = sha256(new Uint8Array(0));

/** MTH({d(0)}) = SHA-256(0x00 || d(0)) */
export function leafHash(entry: Uint8Array): Uint8Array {
  const input = new Uint8Array(1 + entry.length);
  input[0] = 0x00;
  input.set(entry, 1);
  return sha256(input);
}

/** SHA-256(0x01 || left || right) */
export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  const input = new Uint8Array(1 + left.length + right.length);
  input[0] = 0x01;
  input.set(left, 1);
  input.set(right, 1 + left.length);
  return sha256(input);
}

export function equalHashes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Refuses anything but a 32-byte hash, naming it in the message (e.g. "proof[3]"). */
export function checkHash(value: Uint8Array, what: string): void {
  if (!(value instanceof Uint8Array) || value.length !== HASH_SIZE) {
    throw ledgerError('hash_malformed', `${what} is not a ${HASH_SIZE}-byte SHA-256 hash (${value instanceof Uint8Array ? `${value.length} bytes` : typeof value})`);
  }
}

export const hex = (value: Uint8Array): string => Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex');
