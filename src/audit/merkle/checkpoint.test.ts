import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatSignerKey, generateNoteKey, parseNote, parseSignerKey, parseVerifierKey } from '../note/index.ts';
import { KEY_PAIRS, SPEC_CHECKPOINT_EXAMPLE, SUM_GOLANG_ORG_CHECKPOINT, SUM_GOLANG_ORG_VERIFIER_KEY } from '../note/testdata/go-sumdb-note.ts';
import { formatCheckpoint, openCheckpoint, parseCheckpoint, signCheckpoint } from './checkpoint.ts';
import { EMPTY_ROOT, leafHash } from './hash.ts';
import { throwsLedger, toHex } from './testdata/assert.ts';

const hello = leafHash(new TextEncoder().encode('hello world'));
const root = 'TszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=';

describe('checkpoints (c2sp.org/tlog-checkpoint)', () => {
  it('formats and parses the golden tree head of golang.org/x/mod/sumdb/tlog', () => {
    // golang/mod, sumdb/tlog/note_test.go (commit 774e77886cf18ba9e220baec8497d65b0c50373f): TestFormatTree, TestParseTree.
    const golden = `go.sum database tree\n123456789012\n${root}\n`;
    assert.equal(formatCheckpoint({ origin: 'go.sum database tree', size: 123456789012, rootHash: hello }), golden);
    const parsed = parseCheckpoint(golden);
    assert.deepEqual({ ...parsed, rootHash: toHex(parsed.rootHash) }, { origin: 'go.sum database tree', size: 123456789012, rootHash: toHex(hello), extensions: [] });
    throwsLedger(() => parseCheckpoint(`go.sum database tree\n0xabcdef\n${root}\n`), 'checkpoint_malformed', /tree size "0xabcdef"/);
    throwsLedger(() => parseCheckpoint('go.sum database tree\n123456789012\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBTOOBIG=\n'), 'checkpoint_malformed', /root hash/);
  });

  it('refuses the malformed bodies of transparency-dev/formats, and more', () => {
    // transparency-dev/formats, log/checkpoint_test.go (commit 7a6ef700ee5660b2580c9da92063af300820fdee): TestUnmarshalLogState.
    const hash = 'dGhlIHZpZXcgZnJvbSB0aGUgdHJlZSB0b3BzIGlzIGdyZWF0IQ==';
    const cases: [string, RegExp][] = [
      ['Head\n9944\n', /at least 3 lines/],
      [`\n9944\n${hash}\n`, /origin line is empty/],
      ['Log\n123\nYmFuYW5hcw==', /end with a newline/],
      [`Log\nbananas\n${hash}\n`, /not a decimal number/],
      [`Log\n-34\n${hash}\n`, /not a decimal number/],
      [`Log\n3438945738945739845734895735\n${hash}\n`, /beyond 2\^53/],
      ["Log\n123\nThisIsn'tBase64\n", /not standard base64/],
      // Stricter than that parser: a SHA-256 root, canonical numbers, no empty extension lines.
      [`Log\n9944\n${hash}\n`, /root hash is 37 bytes, not 32/],
      [`Log\n0123\n${root}\n`, /leading zeroes/],
      [`Log\n+123\n${root}\n`, /not a decimal number/],
      [`Log\n123\n${root}\n\n`, /extension line 1 is empty/],
      [`Log\n123\n${root} \n`, /not standard base64/],
      [`Log\r\n123\n${root}\n`, /control character U\+000d/],
    ];
    for (const [text, message] of cases) throwsLedger(() => parseCheckpoint(text), 'checkpoint_malformed', message, JSON.stringify(text));
  });

  it('keeps extension lines, in order, and an empty tree', () => {
    const text = formatCheckpoint({ origin: 'audit.example.com/mandate', size: 0, rootHash: EMPTY_ROOT, extensions: ['t 1735689600', 'phase waxing gibbous'] });
    assert.equal(text, 'audit.example.com/mandate\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\nt 1735689600\nphase waxing gibbous\n');
    assert.deepEqual(parseCheckpoint(text).extensions, ['t 1735689600', 'phase waxing gibbous']);
    throwsLedger(() => formatCheckpoint({ origin: 'log', size: 1, rootHash: hello, extensions: [''] }), 'checkpoint_malformed', /extension line 1/);
    throwsLedger(() => formatCheckpoint({ origin: 'two\nlines', size: 1, rootHash: hello }), 'checkpoint_malformed', /origin/);
    throwsLedger(() => formatCheckpoint({ origin: 'log', size: -1, rootHash: hello }), 'checkpoint_malformed', /tree size/);
    throwsLedger(() => formatCheckpoint({ origin: 'log', size: 1, rootHash: hello.subarray(1) }), 'hash_malformed');
  });

  it('opens a checkpoint really signed by sum.golang.org, and only as that log', () => {
    // transparency-dev/formats, log/note_test.go: TestSumDBNoteParsing.
    const verifiers = [parseVerifierKey(SUM_GOLANG_ORG_VERIFIER_KEY)];
    const { checkpoint, verified } = openCheckpoint(SUM_GOLANG_ORG_CHECKPOINT, { origin: 'go.sum database tree', verifiers });
    assert.equal(checkpoint.size, 6476701);
    assert.equal(checkpoint.origin, 'go.sum database tree');
    assert.equal(verified[0]?.name, 'sum.golang.org');
    throwsLedger(() => openCheckpoint(SUM_GOLANG_ORG_CHECKPOINT, { origin: 'Go rocks but I might have the wrong ID', verifiers }), 'checkpoint_origin_mismatch', /is for log "go.sum database tree"/);
    throwsLedger(() => openCheckpoint(SUM_GOLANG_ORG_CHECKPOINT.replace('6476701', '6476702'), { origin: 'go.sum database tree', verifiers }), 'signature_invalid', /sum\.golang\.org\+033de0ae/);
  });

  it('signs a checkpoint that opens with the log key, with witnesses it does not know set aside', () => {
    const [log, witness] = KEY_PAIRS.map((pair) => parseSignerKey(pair.signerKey)) as [ReturnType<typeof parseSignerKey>, ReturnType<typeof parseSignerKey>];
    const note = signCheckpoint({ origin: 'Log', size: 42, rootHash: hello }, [log, witness]);
    assert.match(note, /^Log\n42\nTszzRgjTG6xce\+z2AG31kAXYKBgQVtCSCE40HmuwBb0=\n\n— Log [A-Za-z0-9+/=]+\n— Known [A-Za-z0-9+/=]+\n$/);
    const opened = openCheckpoint(note, { origin: 'Log', verifiers: [parseVerifierKey(KEY_PAIRS[0]?.verifierKey as string)] });
    assert.equal(opened.checkpoint.size, 42);
    assert.deepEqual(opened.verified.map((s) => s.name), ['Log']);
    assert.deepEqual(opened.unverified.map((s) => s.name), ['Known']);
    throwsLedger(() => openCheckpoint(note, { origin: 'Log', verifiers: [parseVerifierKey(generateNoteKey('Log').verifierKey)] }), 'key_unknown', /signed by Log\+2271c621, Known\+451c786d/);
    assert.equal(formatSignerKey(log.name, new Uint8Array(32)).startsWith('PRIVATE+KEY+Log+'), true);
  });

  it("parses the specification's example, whose key is not published", () => {
    const { text, signatures } = parseNote(SPEC_CHECKPOINT_EXAMPLE);
    const checkpoint = parseCheckpoint(text);
    assert.deepEqual([checkpoint.origin, checkpoint.size, toHex(checkpoint.rootHash).length], ['example.com/behind-the-sofa', 20852163, 64]);
    assert.equal(signatures[0]?.name, 'example.com/behind-the-sofa');
    assert.equal(signatures[0]?.signature.length, 64);
    throwsLedger(() => openCheckpoint(SPEC_CHECKPOINT_EXAMPLE, { origin: 'example.com/behind-the-sofa', verifiers: [] }), 'key_unknown');
  });
});
