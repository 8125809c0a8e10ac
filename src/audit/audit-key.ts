// The audit log's signing key as a signed-note signer. `mandate init` makes the
// Ed25519 key (audit-ed25519.pem); the first start writes its verifier key, named
// after the log's origin, to audit.vkey — what auditors are given. From then on the
// origin is that file's: a log keeps one name for its life, so a configured origin
// that differs is refused rather than silently starting a second log.
import { createPrivateKey } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MandateError } from '../errors.ts';
import { ed25519Signer, formatVerifierKey, parseVerifierKey, type NoteSigner } from './note/index.ts';

export const AUDIT_KEY_FILE = 'audit-ed25519.pem';
export const AUDIT_PUBLIC_KEY_FILE = 'audit-ed25519.pub.pem';
export const AUDIT_VERIFIER_KEY_FILE = 'audit.vkey';

export interface AuditKey {
  origin: string;
  signer: NoteSigner;
  /** The verifier key in note format: `<origin>+<key ID>+<base64 key>`. */
  verifierKey: string;
}

export const defaultAuditOrigin = (trustDomain: string): string => `${trustDomain}/audit`;

export async function loadAuditKey(dataDir: string, configured: { origin: string | null; trustDomain: string }): Promise<AuditKey> {
  let pem: string;
  try {
    pem = await readFile(join(dataDir, AUDIT_KEY_FILE), 'utf8');
  } catch (error) {
    throw new MandateError('not_initialised', `no audit key in ${dataDir} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}): run \`mandate init\``, { status: 503 });
  }
  const jwk = createPrivateKey(pem).export({ format: 'jwk' });
  if (jwk.crv !== 'Ed25519' || typeof jwk.d !== 'string') throw new MandateError('invalid_config', `${AUDIT_KEY_FILE} is not an Ed25519 private key`);
  const seed = new Uint8Array(Buffer.from(jwk.d, 'base64url'));

  const vkeyFile = join(dataDir, AUDIT_VERIFIER_KEY_FILE);
  const written = await readFile(vkeyFile, 'utf8').then((text) => text.trim(), () => null);
  const origin = written === null ? configured.origin ?? defaultAuditOrigin(configured.trustDomain) : parseVerifierKey(written).name;
  if (configured.origin !== null && configured.origin !== origin) {
    throw new MandateError('invalid_config', `MANDATE_AUDIT_ORIGIN is ${configured.origin}, but this audit log is named ${origin} (${AUDIT_VERIFIER_KEY_FILE}); a log keeps its name`);
  }
  const signer = ed25519Signer(origin, seed);
  const verifierKey = formatVerifierKey(signer);
  if (written === null) await writeFile(vkeyFile, `${verifierKey}\n`, { mode: 0o644, flag: 'wx' }).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'EEXIST') throw error;
  });
  else if (written !== verifierKey) throw new MandateError('invalid_config', `${AUDIT_VERIFIER_KEY_FILE} is not the verifier key of ${AUDIT_KEY_FILE}`);
  return { origin, signer, verifierKey };
}
