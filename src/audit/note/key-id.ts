// c2sp.org/signed-note: key ID = SHA-256(key name || 0x0A || signature type || public key)[:4],
// read as a big-endian uint32.
import { createHash } from 'node:crypto';

/** Signature type 0x01: Ed25519 over the note text. */
export const ED25519 = 0x01;

export function noteKeyId(name: string, signatureType: number, publicKey: Uint8Array): number {
  const digest = createHash('sha256').update(name, 'utf8').update(new Uint8Array([0x0a, signatureType])).update(publicKey).digest();
  return digest.readUInt32BE(0);
}

export const formatKeyId = (keyId: number): string => keyId.toString(16).padStart(8, '0');
