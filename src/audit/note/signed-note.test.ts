import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { throwsLedger } from '../merkle/testdata/assert.ts';
import { MAX_SIGNATURES, openNote, parseNote, signNote } from './signed-note.ts';
import { parseSignerKey } from './signer-key.ts';
import {
  COSIGNATURES,
  ENOCH_SIGNATURE_LINE,
  ENOCH_VERIFIER_KEY,
  PETER_SIGNATURE_LINE,
  PETER_SIGNED,
  PETER_SIGNER_KEY,
  PETER_VERIFIER_KEY,
  SPEC_NOTE_EXAMPLE,
  SUM_GOLANG_ORG_CHECKPOINT,
  SUM_GOLANG_ORG_VERIFIER_KEY,
  TEXT,
} from './testdata/go-sumdb-note.ts';
import { parseVerifierKey, type NoteVerifier } from './verifier-key.ts';

const peter = parseVerifierKey(PETER_VERIFIER_KEY);
const enoch = parseVerifierKey(ENOCH_VERIFIER_KEY);
const names = (signatures: { name: string }[]): string[] => signatures.map((s) => s.name);

describe('signed notes (c2sp.org/signed-note)', () => {
  it("signs the text of Go's TestSign to exactly the same bytes", () => {
    assert.equal(signNote(TEXT, [parseSignerKey(PETER_SIGNER_KEY)]), PETER_SIGNED);
  });

  it("opens Go's TestOpen notes: known keys verified, unknown ones set aside", () => {
    const message = `${TEXT}\n${PETER_SIGNATURE_LINE}${ENOCH_SIGNATURE_LINE}`;
    const one = openNote(message, [peter]);
    assert.equal(one.text, TEXT);
    assert.deepEqual(names(one.verified), ['PeterNeumann']);
    assert.deepEqual(names(one.unverified), ['EnochRoot']);
    const both = openNote(message, [peter, enoch]);
    assert.deepEqual(names(both.verified), ['PeterNeumann', 'EnochRoot']);
    assert.deepEqual(both.unverified, []);
    throwsLedger(() => openNote(message, []), 'key_unknown', /signed by PeterNeumann\+c74f20a3, EnochRoot\+af0cfe78; known: none/);
    const twice = openNote(`${TEXT}\n${PETER_SIGNATURE_LINE}${PETER_SIGNATURE_LINE}${ENOCH_SIGNATURE_LINE}${ENOCH_SIGNATURE_LINE}`, [peter]);
    assert.deepEqual([names(twice.verified), names(twice.unverified)], [['PeterNeumann'], ['EnochRoot']]);
  });

  it('refuses the whole note when a signature by a known key does not verify', () => {
    const corrupt = `${PETER_SIGNATURE_LINE.slice(0, 60)}ABCD${PETER_SIGNATURE_LINE.slice(60)}`;
    throwsLedger(() => openNote(`${TEXT}\n${corrupt}`, [peter]), 'signature_invalid', /the signature by PeterNeumann\+c74f20a3 does not verify/);
    throwsLedger(() => openNote(`${TEXT}\n${PETER_SIGNATURE_LINE}${corrupt}`, [peter]), 'signature_invalid');
    throwsLedger(() => openNote(`${TEXT.replace('answer', 'Answer')}\n${PETER_SIGNATURE_LINE}`, [peter]), 'signature_invalid');
    // Same name, another key ID: an unknown key, never "verified" by PeterNeumann's.
    throwsLedger(() => openNote(`${TEXT}\n${PETER_SIGNATURE_LINE.replace('x08g', 'xxxx')}`, [peter]), 'key_unknown');
    throwsLedger(() => openNote(`${TEXT}\n${PETER_SIGNATURE_LINE.replace('PeterNeumann', 'CarmenSandiego')}`, [peter]), 'key_unknown');
  });

  it('refuses two different known keys with one name and ID', () => {
    const impostor: NoteVerifier = { ...peter, publicKey: enoch.publicKey, verify: () => true };
    throwsLedger(() => openNote(PETER_SIGNED, [peter, impostor]), 'key_ambiguous', /PeterNeumann\+c74f20a3/);
    assert.deepEqual(names(openNote(PETER_SIGNED, [peter, parseVerifierKey(PETER_VERIFIER_KEY)]).verified), ['PeterNeumann']);
  });

  it("refuses Go's malformed messages", () => {
    const bad: [string, RegExp][] = [
      [TEXT, /no blank line/],
      [`${TEXT}\n`, /no signature lines/],
      [`${TEXT}\n${PETER_SIGNATURE_LINE.slice(0, -1)}`, /must end with a newline/],
      [`\x01${TEXT}\n${PETER_SIGNATURE_LINE}`, /control character U\+0001/],
      [`${TEXT}\n— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=`, /must end with a newline/],
      [`${TEXT}\n${PETER_SIGNATURE_LINE}Unexpected line.\n`, /signature line 2 does not start with an em dash/],
      [`${TEXT}\n— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n`, /is not "— <key name> <base64 signature>"/],
      [`${TEXT}\n— PeterNeumann x08g\n`, /signature has 3 bytes/],
      [`${TEXT}\n— PeterNeumann x08go/ZJkuBS9UG\n`, /not standard base64/],
      [`${TEXT}\n${PETER_SIGNATURE_LINE.repeat(MAX_SIGNATURES + 1)}`, /101 signatures, more than 100/],
    ];
    for (const [message, why] of bad) throwsLedger(() => openNote(message, [peter]), 'note_malformed', why, JSON.stringify(message.slice(0, 30)));
    throwsLedger(() => openNote(Buffer.concat([Buffer.from([0xff]), Buffer.from(PETER_SIGNED)]), [peter]), 'note_malformed', /not valid UTF-8/);
    assert.equal(openNote(new TextEncoder().encode(PETER_SIGNED), [peter]).text, TEXT);
  });

  it('opens a real sum.golang.org checkpoint with its witnesses’ cosignatures', () => {
    const message = `${SUM_GOLANG_ORG_CHECKPOINT}${[...COSIGNATURES.lines, ...COSIGNATURES.unknownLines].join('\n')}\n`;
    const verifiers = [SUM_GOLANG_ORG_VERIFIER_KEY, ...COSIGNATURES.verifierKeys].map(parseVerifierKey);
    const opened = openNote(message, verifiers);
    assert.deepEqual(names(opened.verified), ['sum.golang.org', 'monkeys', 'bananas', 'witness']);
    assert.deepEqual(names(opened.unverified), ['random1', 'random2']);
  });

  it('takes text with blank lines, split at the last one (the spec example)', () => {
    const { text, signatures } = parseNote(SPEC_NOTE_EXAMPLE);
    assert.equal(text, 'Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned è subito sera.\n');
    assert.deepEqual(names(signatures), ['quasimodo.example/salvatore']);
    const signer = parseSignerKey(PETER_SIGNER_KEY);
    assert.equal(openNote(signNote(text, [signer]), [peter]).text, text);
  });

  it('refuses to sign text a verifier could not read back', () => {
    const signer = parseSignerKey(PETER_SIGNER_KEY);
    throwsLedger(() => signNote('abc', [signer]), 'note_malformed', /end with a newline/);
    throwsLedger(() => signNote('a\tb\n', [signer]), 'note_malformed', /U\+0009/);
    throwsLedger(() => signNote('a\ud800\n', [signer]), 'note_malformed', /not valid Unicode/);
    throwsLedger(() => signNote('abc\n', []), 'note_malformed', /at least one signature/);
  });
});
