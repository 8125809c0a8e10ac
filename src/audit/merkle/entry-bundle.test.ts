import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeEntryBundle, encodeEntryBundle, verifyEntryBundle } from './entry-bundle.ts';
import { MemoryHashStore } from './hash-store.ts';
import { IncrementalTree } from './incremental-tree.ts';
import { throwsLedger, toHex } from './testdata/assert.ts';
import { readTile } from './tile.ts';

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('entry bundles (c2sp.org/tlog-tiles)', () => {
  it('prefixes each entry with its length as a big-endian uint16', () => {
    const long = new Uint8Array(300).fill(7);
    const bundle = encodeEntryBundle([new Uint8Array(0), bytes('a'), long]);
    assert.equal(toHex(bundle.subarray(0, 7)), '0000' + '000161' + '012c');
    assert.equal(bundle.length, 2 + 3 + 2 + 300);
    assert.deepEqual(decodeEntryBundle(bundle).map(toHex), [new Uint8Array(0), bytes('a'), long].map(toHex));
  });

  it('checks a bundle against its level-0 tile', async () => {
    const store = new MemoryHashStore();
    const tree = IncrementalTree.empty();
    const entries = Array.from({ length: 10 }, (_, i) => bytes(`{"seq":${i}}`));
    for (const e of entries) await store.put(tree.appendEntry(e));
    const tile = await readTile(store, { level: 0, index: 0, width: 10 });
    assert.equal(verifyEntryBundle(encodeEntryBundle(entries), tile).length, 10);
    const swapped = [entries[1], entries[0], ...entries.slice(2)] as Uint8Array[];
    throwsLedger(() => verifyEntryBundle(encodeEntryBundle(swapped), tile), 'entry_bundle_malformed', /entry 0 of the bundle does not hash to hash 0/);
    throwsLedger(() => verifyEntryBundle(encodeEntryBundle(entries.slice(0, 9)), tile), 'entry_bundle_malformed', /9 entries, its tile 10 hashes/);
  });

  it('refuses truncated bundles and entries too long for the prefix', () => {
    const bundle = encodeEntryBundle([bytes('abc'), bytes('de')]);
    throwsLedger(() => decodeEntryBundle(bundle.subarray(0, bundle.length - 1)), 'entry_bundle_malformed', /entry 1 of the bundle claims 2 bytes, 1 remain/);
    throwsLedger(() => decodeEntryBundle(bundle.subarray(0, 6)), 'entry_bundle_malformed', /ends inside the length of entry 1/);
    throwsLedger(() => decodeEntryBundle(new Uint8Array(0)), 'entry_bundle_malformed', /empty/);
    throwsLedger(() => decodeEntryBundle(new Uint8Array(257 * 2)), 'entry_bundle_malformed', /more than 256/);
    throwsLedger(() => encodeEntryBundle([new Uint8Array(65536)]), 'entry_too_large', /65536 bytes/);
    assert.equal(encodeEntryBundle([new Uint8Array(65535)]).length, 65537);
  });
});
