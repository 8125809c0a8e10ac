import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EMPTY_ROOT, leafHash } from './hash.ts';
import { MemoryHashStore } from './hash-store.ts';
import { IncrementalTree } from './incremental-tree.ts';
import { fromHex, toHex } from './testdata/assert.ts';
import { LEAVES, ROOTS } from './testdata/rfc6962-vectors.ts';
import { merkleTreeHash, treeHashAt } from './tree-hash.ts';

describe('Merkle tree hash', () => {
  it('gives the published roots of the first n test entries three ways: by definition, incrementally, from the store', async () => {
    const leafHashes = LEAVES.map((leaf) => leafHash(fromHex(leaf)));
    const tree = IncrementalTree.empty();
    const store = new MemoryHashStore();
    for (let n = 1; n <= LEAVES.length; n++) {
      await store.put(tree.append(leafHashes[n - 1] as Uint8Array));
      assert.equal(toHex(merkleTreeHash(leafHashes.slice(0, n))), ROOTS[n - 1], `definition, size ${n}`);
      assert.equal(toHex(tree.root()), ROOTS[n - 1], `incremental, size ${n}`);
    }
    for (let n = 1; n <= LEAVES.length; n++) assert.equal(toHex(await treeHashAt(store, n)), ROOTS[n - 1], `store, size ${n}`);
  });

  it('gives the empty tree the hash of nothing', async () => {
    assert.deepEqual(merkleTreeHash([]), EMPTY_ROOT);
    assert.deepEqual(IncrementalTree.empty().root(), EMPTY_ROOT);
    assert.deepEqual(await treeHashAt(new MemoryHashStore(), 0), EMPTY_ROOT);
  });
});
