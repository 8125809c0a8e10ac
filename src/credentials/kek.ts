// The key-encryption key (KEK): the one key that wraps every credential's data key
// (seal.ts). It never enters the store, so a copy of the database alone unseals
// nothing. It comes from MANDATE_KEK_FILE (a file holding 32 random bytes in base64,
// readable by its owner only), or MANDATE_KEK (the same base64 in the environment),
// or, when neither is set, the data directory's `kek` that `mandate init` creates.
// During a rotation the key it replaces may be given too (MANDATE_KEK_PREVIOUS_FILE
// or MANDATE_KEK_PREVIOUS): accepted to unwrap, never to wrap.
//
// Each key is known by an id derived from it (`kek_…`), which the store records
// beside every wrapped data key: a credential sealed under a key that is not loaded
// is refused by name (kek_mismatch), never tried and never a crash.
import { createHash, randomBytes } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MandateError } from '../errors.ts';

export const KEK_FILE = 'kek';
const KEY_BYTES = 32;
const BASE64_KEY = /^[A-Za-z0-9+/_-]{43}=?$/;

/** One key-encryption key: AES-256, known by the id derived from it. */
export interface Kek {
  readonly id: string;
  readonly key: Buffer;
}

/** Where the keys are configured: file paths only (the inline forms are read from the environment). */
export interface KekConfig {
  dataDir: string;
  kekFile: string | null;
  kekPreviousFile: string | null;
}

/** The id a key is known by: not secret (a hash of a 256-bit random key reveals nothing of it). */
export function kekId(key: Buffer): string {
  return `kek_${createHash('sha256').update('mandate key-encryption key id v1\n').update(key).digest('base64url').slice(0, 16)}`;
}

export function kekFromBytes(key: Buffer): Kek {
  if (key.length !== KEY_BYTES) throw new MandateError('kek_invalid', `a key-encryption key is ${KEY_BYTES} bytes, not ${key.length}`, { status: 503 });
  return Object.freeze({ id: kekId(key), key });
}

/** A fresh key, as the base64 text a KEK file holds. */
export function newKekText(): string {
  return randomBytes(KEY_BYTES).toString('base64');
}

/** Parses the base64 of a key; the message names where it came from, never what it held. */
export function parseKek(text: string, origin: string): Kek {
  const trimmed = text.trim();
  if (!BASE64_KEY.test(trimmed)) {
    throw new MandateError('kek_invalid', `${origin} does not hold a key-encryption key: give 32 random bytes in base64 (e.g. \`openssl rand -base64 32\`)`, { status: 503 });
  }
  return kekFromBytes(Buffer.from(trimmed.replace(/-/g, '+').replace(/_/g, '/'), 'base64'));
}

/** Reads a KEK file, which only its owner may read or write. */
export async function readKekFile(path: string, origin = path): Promise<Kek> {
  let mode: number;
  let text: string;
  try {
    mode = (await stat(path)).mode;
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new MandateError('kek_missing', `cannot read the key-encryption key ${origin}: ${code === 'ENOENT' ? 'no such file' : code ?? 'unreadable'}`, { status: 503 });
  }
  if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
    throw new MandateError('kek_file_permissions', `the key-encryption key ${origin} may be read or written by others (mode ${(mode & 0o777).toString(8)}); chmod 600 it`, { status: 503 });
  }
  return parseKek(text, origin);
}

/** Writes a fresh key to `path` (mode 0600), refusing to replace a file there. */
export async function writeNewKekFile(path: string): Promise<Kek> {
  const text = newKekText();
  await writeFile(path, `${text}\n`, { mode: 0o600, flag: 'wx' });
  return parseKek(text, path);
}

/**
 * The keys Mandate holds: the current one, which wraps (null when none is configured:
 * every use of a credential is then refused with kek_missing), and those it replaces,
 * which only unwrap.
 */
export class KekRing {
  readonly current: Kek | null;
  readonly previous: readonly Kek[];
  /** Why there is no current key, for the refusal. */
  readonly #missing: string;

  constructor(current: Kek | null, previous: readonly Kek[] = [], missing = 'no key-encryption key is configured') {
    this.current = current;
    this.previous = previous.filter((k) => k.id !== current?.id);
    this.#missing = missing;
  }

  /** The key that wraps new data keys. */
  wrapping(): Kek {
    if (this.current === null) throw new MandateError('kek_missing', `${this.#missing}: set MANDATE_KEK_FILE or MANDATE_KEK, or run \`mandate init\` to create the data directory's kek`, { status: 503 });
    return this.current;
  }

  /** The key `id` names, to unwrap with; refuses by name when it is not loaded. */
  unwrapping(id: string, what: string): Kek {
    const found = [this.current, ...this.previous].find((k) => k?.id === id);
    if (found) return found;
    if (this.current === null) this.wrapping();
    throw new MandateError('kek_mismatch', `${what} is sealed under key-encryption key ${id}, which is not loaded (current: ${this.current?.id}${this.previous.length > 0 ? `; previous: ${this.previous.map((k) => k.id).join(', ')}` : ''}); give that key as MANDATE_KEK_FILE, or as MANDATE_KEK_PREVIOUS_FILE while rotating`, { status: 503 });
  }

  /** Overwrites the keys in memory (at shutdown). */
  destroy(): void {
    for (const kek of [this.current, ...this.previous]) kek?.key.fill(0);
  }
}

/**
 * Loads the keys as configured. A key that is configured but cannot be read or is
 * malformed refuses (Mandate does not start with a broken key); none configured and
 * no data-directory key is a ring without a current key.
 */
export async function loadKekRing(config: KekConfig, env: NodeJS.ProcessEnv = process.env): Promise<KekRing> {
  const current = await loadOne(config.kekFile, env.MANDATE_KEK, 'MANDATE_KEK');
  const previous = await loadOne(config.kekPreviousFile, env.MANDATE_KEK_PREVIOUS, 'MANDATE_KEK_PREVIOUS');
  if (current) return new KekRing(current, previous ? [previous] : []);
  const inDataDir = join(config.dataDir, KEK_FILE);
  const exists = await stat(inDataDir).then(() => true, () => false);
  if (exists) return new KekRing(await readKekFile(inDataDir), previous ? [previous] : []);
  return new KekRing(null, previous ? [previous] : [], `no key-encryption key is configured and ${inDataDir} does not exist`);
}

async function loadOne(file: string | null, inline: string | undefined, name: string): Promise<Kek | null> {
  const hasInline = inline !== undefined && inline !== '';
  if (file !== null && hasInline) throw new MandateError('invalid_config', `set ${name}_FILE or ${name}, not both`);
  if (file !== null) return readKekFile(file, `${name}_FILE (${file})`);
  if (hasInline) return parseKek(inline, name);
  return null;
}
