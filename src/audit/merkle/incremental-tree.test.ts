import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { leafHash } from './hash.ts';
import { MemoryHashStore } from './hash-store.ts';
import { IncrementalTree } from './incremental-tree.ts';
import { rejectsLedger, throwsLedger, toHex } from './testdata/assert.ts';
import { merkleTreeHash, treeHashAt } from './tree-hash.ts';

const entry = (i: number): Uint8Array => new TextEncoder().encode(`leaf ${i}`);

describe('the incremental tree', () => {
  it('stores the leaf hash of every entry, and one level-L hash for each 256^L entries completed', () => {
    const tree = IncrementalTree.empty();
    const leafHashes: Uint8Array[] = [];
    const levelOne: Uint8Array[] = [];
    for (let i = 0; i < 65536; i++) {
      leafHashes.push(leafHash(entry(i)));
      const stored = tree.appendEntry(entry(i));
      assert.deepEqual(stored[0], { level: 0, index: i, hash: leafHashes[i] });
      const expected = (i + 1) % 65536 === 0 ? 3 : (i + 1) % 256 === 0 ? 2 : 1;
      assert.equal(stored.length, expected, `hashes stored for entry ${i}`);
      if (stored.length >= 2) {
        const block = Math.floor(i / 256);
        assert.equal(stored[1]?.level, 1);
        assert.equal(stored[1]?.index, block);
        assert.equal(toHex(stored[1]?.hash as Uint8Array), toHex(merkleTreeHash(leafHashes.slice(block * 256, block * 256 + 256))), `level-1 hash ${block}`);
        levelOne.push(stored[1]?.hash as Uint8Array);
      }
      if (stored.length === 3) {
        assert.deepEqual({ level: stored[2]?.level, index: stored[2]?.index }, { level: 2, index: 0 });
        assert.equal(toHex(stored[2]?.hash as Uint8Array), toHex(merkleTreeHash(levelOne)), 'the level-2 hash is the MTH of the 256 level-1 hashes');
        assert.equal(toHex(stored[2]?.hash as Uint8Array), toHex(tree.root()), 'a tree of 65,536 entries is one level-2 subtree');
      }
    }
  });

  it('persists its right edge compactly and carries on identically once restored', () => {
    const tree = IncrementalTree.empty();
    for (let i = 0; i < 1000; i++) {
      const state = tree.state();
      const ones = tree.size.toString(2).split('').filter((b) => b === '1').length;
      assert.equal(state.length, 8 + 32 * ones, `state size at ${tree.size}`);
      const restored = IncrementalTree.restore(state);
      assert.equal(restored.size, tree.size);
      assert.equal(toHex(restored.root()), toHex(tree.root()));
      assert.deepEqual(restored.appendEntry(entry(i)), tree.appendEntry(entry(i)));
      assert.equal(toHex(restored.root()), toHex(tree.root()));
    }
    assert.equal(toHex(tree.state().subarray(0, 8)), '00000000000003e8', 'the size leads, as a big-endian uint64');
  });

  it('refuses a state that is not one', () => {
    const state = IncrementalTree.empty().state();
    const grown = IncrementalTree.empty();
    for (let i = 0; i < 3; i++) grown.appendEntry(entry(i));
    const three = grown.state();
    throwsLedger(() => IncrementalTree.restore(state.subarray(0, 7)), 'tree_state_malformed', /8-byte size/);
    throwsLedger(() => IncrementalTree.restore(three.subarray(0, three.length - 32)), 'tree_state_malformed', /a tree of 3 leaves has 2 subtrees on its right edge, the state holds 1/);
    throwsLedger(() => IncrementalTree.restore(three.subarray(0, three.length - 1)), 'tree_state_malformed');
    throwsLedger(() => IncrementalTree.restore(Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])), 'tree_state_malformed', /beyond 2\^53/);
  });

  it('rebuilds its right edge at any size from the hash store', async () => {
    const store = new MemoryHashStore();
    const tree = IncrementalTree.empty();
    const states: Uint8Array[] = [tree.state()];
    for (let i = 0; i < 70000; i++) {
      store.putSync(tree.appendEntry(entry(i)));
      if (i % 997 === 0 || i === 255 || i === 65535) states.push(tree.state());
    }
    for (const state of [...states, tree.state()]) {
      const expected = IncrementalTree.restore(state);
      const rebuilt = await IncrementalTree.fromStore(store, expected.size);
      assert.equal(toHex(rebuilt.state()), toHex(state), `size ${expected.size}`);
      assert.equal(toHex(await treeHashAt(store, expected.size)), toHex(expected.root()), `root at size ${expected.size}`);
    }
    await rejectsLedger(() => IncrementalTree.fromStore(store, 70001), 'hash_missing');
  });

  it('takes only 32-byte leaf hashes', () => {
    throwsLedger(() => IncrementalTree.empty().append(new Uint8Array(31)), 'hash_malformed', /leaf hash is not a 32-byte SHA-256 hash \(31 bytes\)/);
  });
});
