// A role's password is sent to PostgreSQL already hashed, as a SCRAM-SHA-256 verifier
// (RFC 5802, RFC 7677; the format PostgreSQL stores in pg_authid.rolpassword), so the
// password itself never reaches the server, its statement log or its statistics.
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';

/** PostgreSQL's default `scram_iterations`. */
export const SCRAM_ITERATIONS = 4096;

/**
 * `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`. The password must be
 * ASCII without controls (SASLprep leaves it unchanged): the provider's are base64url.
 */
export function scramVerifier(password: string, options: { salt?: Buffer; iterations?: number } = {}): string {
  if (!/^[\x21-\x7e]+$/.test(password)) throw new TypeError('a SCRAM password here must be printable ASCII');
  const salt = options.salt ?? randomBytes(16);
  const iterations = options.iterations ?? SCRAM_ITERATIONS;
  const salted = pbkdf2Sync(password, salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}
