// c2sp.org/signed-note: a text ending in a newline, a blank line, then one or more
// signature lines `— <key name> base64(key ID || signature)`. The signatures are over
// the text (final newline included). The text is separated from the signatures by the
// last blank line.
//
// Opening a note follows the spec's rules for verifiers: signatures by unknown keys
// (name and ID not both matching a known key) are set aside; a signature by a known
// key must verify, or the whole note is refused; at least one must be by a known key.
import { ledgerError } from '../ledger-error.ts';
import { decodeBase64, encodeBase64 } from './base64.ts';
import { formatKeyId } from './key-id.ts';
import { isValidKeyName } from './key-name.ts';
import type { NoteSigner } from './signer-key.ts';
import type { NoteVerifier } from './verifier-key.ts';

/** More than the spec's minimum of 16; what golang.org/x/mod/sumdb/note accepts. */
export const MAX_SIGNATURES = 100;

const SIGNATURE_PREFIX = '\u2014 ';
const LONE_SURROGATE = /\p{Surrogate}/u;
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const encoder = new TextEncoder();

export interface NoteSignature {
  name: string;
  keyId: number;
  /** The signature proper, without the key ID. */
  signature: Uint8Array;
}

export interface ParsedNote {
  /** The signed text, final newline included. */
  text: string;
  signatures: NoteSignature[];
}

export interface OpenedNote extends ParsedNote {
  /** Signatures that verified, by known keys (each key once). */
  verified: NoteSignature[];
  /** Signatures by keys the caller did not name (each distinct one once). */
  unverified: NoteSignature[];
}

const keyLabel = (s: { name: string; keyId: number }): string => `${s.name}+${formatKeyId(s.keyId)}`;

/** Refuses text that is not valid UTF-8 or holds control characters other than newline. */
function checkCharacters(text: string, what: string): void {
  if (LONE_SURROGATE.test(text)) throw ledgerError('note_malformed', `${what} is not valid Unicode`);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 && c !== 0x0a) throw ledgerError('note_malformed', `${what} holds control character U+${c.toString(16).padStart(4, '0')} at offset ${i}`);
  }
}

/** Checks a text to be signed: valid characters, ending in a newline. */
export function checkNoteText(text: string): void {
  checkCharacters(text, 'note text');
  if (!text.endsWith('\n')) throw ledgerError('note_malformed', 'note text must end with a newline');
}

function decodeMessage(message: string | Uint8Array): string {
  if (typeof message === 'string') return message;
  try {
    return utf8.decode(message);
  } catch {
    throw ledgerError('note_malformed', 'signed note is not valid UTF-8');
  }
}

/** Splits a signed note into its text and signature lines, without verifying anything. */
export function parseNote(message: string | Uint8Array): ParsedNote {
  const note = decodeMessage(message);
  checkCharacters(note, 'signed note');
  const split = note.lastIndexOf('\n\n');
  if (split < 0) throw ledgerError('note_malformed', 'signed note has no blank line before its signatures');
  const text = note.slice(0, split + 1);
  const block = note.slice(split + 2);
  if (block.length === 0) throw ledgerError('note_malformed', 'signed note has no signature lines');
  if (!block.endsWith('\n')) throw ledgerError('note_malformed', 'signed note must end with a newline');
  const lines = block.slice(0, -1).split('\n');
  if (lines.length > MAX_SIGNATURES) throw ledgerError('note_malformed', `signed note has ${lines.length} signatures, more than ${MAX_SIGNATURES}`);
  const signatures = lines.map((line, i): NoteSignature => {
    const where = `signature line ${i + 1}`;
    if (!line.startsWith(SIGNATURE_PREFIX)) throw ledgerError('note_malformed', `${where} does not start with an em dash and a space: ${JSON.stringify(line.slice(0, 40))}`);
    const fields = line.slice(SIGNATURE_PREFIX.length).split(' ');
    if (fields.length !== 2) throw ledgerError('note_malformed', `${where} is not "— <key name> <base64 signature>"`);
    const [name, encoded] = fields as [string, string];
    if (!isValidKeyName(name)) throw ledgerError('note_malformed', `${where} has an invalid key name ${JSON.stringify(name)}`);
    const bytes = decodeBase64(encoded, `${where} signature`, 'note_malformed');
    if (bytes.length < 5) throw ledgerError('note_malformed', `${where} signature has ${bytes.length} bytes, too few for a key ID and a signature`);
    return { name, keyId: new DataView(bytes.buffer, bytes.byteOffset).getUint32(0), signature: bytes.slice(4) };
  });
  return { text, signatures };
}

/** Opens a signed note with the keys the caller trusts; throws unless it is validly signed by at least one. */
export function openNote(message: string | Uint8Array, verifiers: readonly NoteVerifier[]): OpenedNote {
  const parsed = parseNote(message);
  const known = new Map<string, NoteVerifier | 'ambiguous'>();
  for (const v of verifiers) {
    const label = keyLabel(v);
    const existing = known.get(label);
    const same = existing !== undefined && existing !== 'ambiguous' && Buffer.from(existing.publicKey).equals(v.publicKey);
    known.set(label, existing === undefined || same ? v : 'ambiguous');
  }
  const textBytes = encoder.encode(parsed.text);
  const verified = new Map<string, NoteSignature>();
  const unverified = new Map<string, NoteSignature>();
  for (const signature of parsed.signatures) {
    const label = keyLabel(signature);
    const verifier = known.get(label);
    if (verifier === undefined) {
      unverified.set(`${label} ${encodeBase64(signature.signature)}`, signature);
      continue;
    }
    if (verifier === 'ambiguous') throw ledgerError('key_ambiguous', `two different known keys are named ${label}`);
    if (!verifier.verify(textBytes, signature.signature)) throw ledgerError('signature_invalid', `the signature by ${label} does not verify over the note text`);
    if (!verified.has(label)) verified.set(label, signature);
  }
  if (verified.size === 0) {
    const by = parsed.signatures.map(keyLabel);
    throw ledgerError('key_unknown', `no signature on the note is by a known key (signed by ${by.join(', ')}; known: ${[...known.keys()].join(', ') || 'none'})`);
  }
  return { ...parsed, verified: [...verified.values()], unverified: [...unverified.values()] };
}

/** Signs a text (ending in a newline) with each signer, in order. */
export function signNote(text: string, signers: readonly NoteSigner[]): string {
  checkNoteText(text);
  if (signers.length === 0) throw ledgerError('note_malformed', 'a signed note needs at least one signature');
  const bytes = encoder.encode(text);
  let out = `${text}\n`;
  for (const signer of signers) {
    const signature = signer.sign(bytes);
    const line = new Uint8Array(4 + signature.length);
    new DataView(line.buffer).setUint32(0, signer.keyId);
    line.set(signature, 4);
    out += `${SIGNATURE_PREFIX}${signer.name} ${encodeBase64(line)}\n`;
  }
  return out;
}
