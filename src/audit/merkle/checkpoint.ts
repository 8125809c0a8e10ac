// c2sp.org/tlog-checkpoint: the signed tree head. The note text is the origin (the
// log's identity), the tree size in decimal (no leading zeroes), the base64 root hash,
// then optional extension lines, each line ending in a newline; a signed-note
// signature block follows. Parsed strictly: one checkpoint has one encoding.
import { ledgerError } from '../ledger-error.ts';
import { checkNoteText, decodeBase64, encodeBase64, openNote, signNote, type NoteSignature, type NoteSigner, type NoteVerifier } from '../note/index.ts';
import { HASH_SIZE, checkHash } from './hash.ts';

export interface Checkpoint {
  origin: string;
  size: number;
  rootHash: Uint8Array;
  /** Opaque extension lines, in order (the spec does not recommend them). */
  extensions: string[];
}

const DECIMAL = /^(?:0|[1-9][0-9]*)$/;

function malformed(message: string): Error {
  return ledgerError('checkpoint_malformed', message);
}

export function formatCheckpoint({ origin, size, rootHash, extensions = [] }: Omit<Checkpoint, 'extensions'> & { extensions?: string[] }): string {
  if (origin.length === 0 || origin.includes('\n')) throw malformed('checkpoint origin must be one non-empty line');
  if (!Number.isSafeInteger(size) || size < 0) throw malformed(`checkpoint tree size must be a non-negative integer below 2^53, not ${String(size)}`);
  checkHash(rootHash, 'checkpoint root hash');
  extensions.forEach((line, i) => {
    if (line.length === 0 || line.includes('\n')) throw malformed(`checkpoint extension line ${i + 1} must be one non-empty line`);
  });
  const text = [origin, String(size), encodeBase64(rootHash), ...extensions].map((line) => `${line}\n`).join('');
  try {
    checkNoteText(text);
  } catch (error) {
    throw malformed(`checkpoint text cannot be signed: ${(error as Error).message}`);
  }
  return text;
}

/** Parses a checkpoint's note text (as signed, final newline included). */
export function parseCheckpoint(text: string): Checkpoint {
  try {
    checkNoteText(text);
  } catch (error) {
    throw malformed(`checkpoint text: ${(error as Error).message}`);
  }
  const lines = text.slice(0, -1).split('\n');
  if (lines.length < 3) throw malformed(`a checkpoint has at least 3 lines (origin, size, root hash), this one ${lines.length}`);
  const [origin, sizeLine, rootLine, ...extensions] = lines as [string, string, string, ...string[]];
  if (origin.length === 0) throw malformed('checkpoint origin line is empty');
  if (!DECIMAL.test(sizeLine)) throw malformed(`checkpoint tree size ${JSON.stringify(sizeLine)} is not a decimal number without leading zeroes`);
  const size = Number(sizeLine);
  if (!Number.isSafeInteger(size)) throw malformed(`checkpoint tree size ${sizeLine} is beyond 2^53`);
  const rootHash = decodeBase64(rootLine, 'checkpoint root hash', 'checkpoint_malformed');
  if (rootHash.length !== HASH_SIZE) throw malformed(`checkpoint root hash is ${rootHash.length} bytes, not ${HASH_SIZE}`);
  extensions.forEach((line, i) => {
    if (line.length === 0) throw malformed(`checkpoint extension line ${i + 1} is empty`);
  });
  return { origin, size, rootHash, extensions };
}

/** The checkpoint as a signed note. */
export function signCheckpoint(checkpoint: Omit<Checkpoint, 'extensions'> & { extensions?: string[] }, signers: readonly NoteSigner[]): string {
  return signNote(formatCheckpoint(checkpoint), signers);
}

export interface OpenedCheckpoint {
  checkpoint: Checkpoint;
  /** Signatures by known keys that verified. */
  verified: NoteSignature[];
  /** Signatures by keys not given (e.g. witnesses the caller does not know). */
  unverified: NoteSignature[];
}

/**
 * Verifies a signed checkpoint of the log named `origin`, signed by at least one of
 * `verifiers`, and parses it. A validly signed checkpoint of another log (a key
 * shared between logs, or a mix-up) is refused.
 */
export function openCheckpoint(message: string | Uint8Array, { origin, verifiers }: { origin: string; verifiers: readonly NoteVerifier[] }): OpenedCheckpoint {
  const note = openNote(message, verifiers);
  const checkpoint = parseCheckpoint(note.text);
  if (checkpoint.origin !== origin) {
    throw ledgerError('checkpoint_origin_mismatch', `checkpoint is for log ${JSON.stringify(checkpoint.origin)}, not ${JSON.stringify(origin)}`);
  }
  return { checkpoint, verified: note.verified, unverified: note.unverified };
}
