// C2SP signed notes (c2sp.org/signed-note) with Ed25519 keys, in the key encodings of
// golang.org/x/mod/sumdb/note.
export { ED25519, formatKeyId, noteKeyId } from './key-id.ts';
export { isValidKeyName } from './key-name.ts';
export { MAX_SIGNATURES, checkNoteText, openNote, parseNote, signNote, type NoteSignature, type OpenedNote, type ParsedNote } from './signed-note.ts';
export { ed25519Signer, formatSignerKey, generateNoteKey, parseSignerKey, type NoteSigner } from './signer-key.ts';
export { ed25519Verifier, formatVerifierKey, parseVerifierKey, type NoteVerifier } from './verifier-key.ts';
export { decodeBase64, encodeBase64 } from './base64.ts';
