// The agent side of Mandate: the agent's key file, and the two JWTs it signs for
// every token request — the client assertion (RFC 7523) and the DPoP proof (RFC 9449).
import { createHash, createPrivateKey, generateKeyPairSync, randomUUID, type KeyObject, type JsonWebKey } from 'node:crypto';
import { readFile, writeFile, rm } from 'node:fs/promises';
import { MandateError } from '../errors.ts';
import { jwkThumbprint, publicPart, type JWK } from '../identity/jwk.ts';
import { signJws } from '../identity/jws.ts';

export interface AgentKey {
  /** The agent's OAuth client id (its SPIFFE ID), once enrolled. */
  clientId: string | null;
  privateJwk: JWK;
  publicJwk: JWK;
  privateKey: KeyObject;
  kid: string;
}

interface KeyFile {
  client_id: string | null;
  key: JWK;
}

export function generateAgentKey(): AgentKey {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = privateKey.export({ format: 'jwk' }) as JWK;
  const kid = jwkThumbprint(jwk);
  return { clientId: null, privateJwk: { ...jwk, kid, alg: 'ES256' }, publicJwk: { ...publicPart(jwk), kid, alg: 'ES256', use: 'sig' }, privateKey, kid };
}

/** Writes the key file with mode 0600; refuses to overwrite an existing file. */
export async function writeAgentKey(path: string, key: AgentKey, options: { overwrite?: boolean } = {}): Promise<void> {
  const file: KeyFile = { client_id: key.clientId, key: key.privateJwk };
  await writeFile(path, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600, flag: options.overwrite ? 'w' : 'wx' }).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'EEXIST') throw new MandateError('key_file_exists', `${path} already exists; choose another --key-file`);
    throw new MandateError('key_file_unwritable', `cannot write ${path}: ${error.message}`);
  });
}

export const removeAgentKey = (path: string): Promise<void> => rm(path, { force: true });

export async function readAgentKey(path: string): Promise<AgentKey> {
  let file: KeyFile;
  try {
    file = JSON.parse(await readFile(path, 'utf8')) as KeyFile;
  } catch (error) {
    throw new MandateError('key_file_unreadable', `cannot read the agent key file ${path}: ${(error as Error).message}`);
  }
  if (!file.key || file.key.kty !== 'EC' || typeof file.key.d !== 'string') throw new MandateError('key_file_invalid', `${path} holds no ES256 private key`);
  const privateKey = createPrivateKey({ key: file.key as JsonWebKey, format: 'jwk' });
  const kid = jwkThumbprint(file.key);
  return { clientId: file.client_id, privateJwk: file.key, publicJwk: { ...publicPart(file.key), kid, alg: 'ES256', use: 'sig' }, privateKey, kid };
}

const nowSeconds = (): number => Math.floor(Date.now() / 1000);

/** A private_key_jwt client assertion for the token endpoint (valid 60 s). */
export function clientAssertion(key: AgentKey, audience: string, now = nowSeconds()): string {
  if (!key.clientId) throw new MandateError('key_not_enrolled', 'the key file has no client id: enroll the agent first');
  return signJws({ alg: 'ES256', typ: 'JWT', kid: key.kid }, { iss: key.clientId, sub: key.clientId, aud: audience, iat: now, exp: now + 60, jti: randomUUID() }, key.privateKey);
}

/** A DPoP proof for one request; with `accessToken`, bound to it through `ath`. */
export function dpopProof(key: AgentKey, method: string, url: string, accessToken?: string, now = nowSeconds()): string {
  const claims: Record<string, unknown> = { jti: randomUUID(), htm: method, htu: url, iat: now };
  if (accessToken !== undefined) claims.ath = createHash('sha256').update(accessToken).digest('base64url');
  return signJws({ alg: 'ES256', typ: 'dpop+jwt', jwk: key.publicJwk }, claims, key.privateKey);
}
