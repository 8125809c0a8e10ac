import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { consistencyProof, verifyConsistency, type ConsistencyClaim } from './consistency-proof.ts';
import { EMPTY_ROOT, leafHash } from './hash.ts';
import { MemoryHashStore } from './hash-store.ts';
import { IncrementalTree } from './incremental-tree.ts';
import * as argon from './testdata/argon2020.ts';
import { fromBase64, fromHex, rejectsLedger, throwsLedger, toHex } from './testdata/assert.ts';
import { CONSISTENCY_PROOFS, LEAVES, ROOTS } from './testdata/rfc6962-vectors.ts';

const root = (size: number): Uint8Array => fromHex(ROOTS[size - 1] as string);

async function vectorStore(): Promise<MemoryHashStore> {
  const store = new MemoryHashStore();
  const tree = IncrementalTree.empty();
  for (const leaf of LEAVES) await store.put(tree.appendEntry(fromHex(leaf)));
  return store;
}

/** transparency-dev/merkle's corruptConsistencyProof: each must fail to verify. */
function corruptions({ oldSize, newSize, oldRoot, newRoot, proof }: ConsistencyClaim & { proof: Uint8Array[] }) {
  const wrongRoot = new TextEncoder().encode('WrongRoot');
  const flip = (i: number) => proof.map((p, j) => (j === i ? Uint8Array.from(p, (b, k) => (k === 0 ? b ^ 16 : b)) : p));
  const probes: (Partial<ConsistencyClaim> & { desc: string })[] = [
    { desc: 'size1 - 1', oldSize: oldSize - 1 },
    { desc: 'size1 + 1', oldSize: oldSize + 1 },
    { desc: 'size1 ^ 2', oldSize: oldSize ^ 2 },
    { desc: 'size2 * 2', newSize: newSize * 2 },
    { desc: 'size2 / 2', newSize: Math.floor(newSize / 2) },
    { desc: 'wrong root1', oldRoot: wrongRoot },
    { desc: 'wrong root2', newRoot: wrongRoot },
    { desc: 'swapped roots', oldRoot: newRoot, newRoot: oldRoot },
    { desc: 'empty proof', proof: [] },
    { desc: 'trailing garbage', proof: [...proof, new Uint8Array(0)] },
    { desc: 'trailing root1', proof: [...proof, oldRoot] },
    { desc: 'trailing root2', proof: [...proof, newRoot] },
    { desc: 'preceding garbage', proof: [new Uint8Array(0), ...proof] },
    { desc: 'preceding root1', proof: [oldRoot, ...proof] },
    { desc: 'preceding root2', proof: [newRoot, ...proof] },
    { desc: 'preceding proof[0]', proof: [proof[0] as Uint8Array, ...proof] },
    { desc: 'truncated proof', proof: proof.slice(0, -1) },
    ...proof.map((_, i) => ({ desc: `modified proof[${i}] bit 4`, proof: flip(i) })),
  ];
  return probes.map((probe) => ({ oldSize, newSize, oldRoot, newRoot, proof, ...probe }));
}

describe('consistency proofs (RFC 9162 §2.1.4)', () => {
  it('generates exactly the published proofs from the hash store, and they verify', async () => {
    const store = await vectorStore();
    for (const vector of CONSISTENCY_PROOFS) {
      const proof = await consistencyProof(store, vector.oldSize, vector.newSize);
      assert.deepEqual(proof.map(toHex), vector.proof, `${vector.oldSize} → ${vector.newSize}`);
      verifyConsistency({ oldSize: vector.oldSize, newSize: vector.newSize, oldRoot: root(vector.oldSize), newRoot: root(vector.newSize), proof });
    }
  });

  it('refuses every corruption of the published proofs that transparency-dev/merkle probes', () => {
    for (const vector of CONSISTENCY_PROOFS.filter((v) => v.proof.length > 0)) {
      const claim = { oldSize: vector.oldSize, newSize: vector.newSize, oldRoot: root(vector.oldSize), newRoot: root(vector.newSize), proof: vector.proof.map(fromHex) };
      for (const probe of corruptions(claim)) {
        throwsLedger(() => verifyConsistency(probe), ['proof_invalid', 'proof_sizes_invalid', 'hash_malformed'], undefined, `${vector.oldSize} → ${vector.newSize}, ${probe.desc}`);
      }
    }
  });

  it('verifies a real consistency proof of the Argon 2020 CT log (3,654,490 → 961,984,013 entries)', () => {
    const claim = { oldSize: argon.OLD_TREE.treeSize, newSize: argon.STH.treeSize, oldRoot: fromBase64(argon.OLD_TREE.rootHash), newRoot: fromBase64(argon.STH.rootHash), proof: argon.CONSISTENCY.map(fromBase64) };
    verifyConsistency(claim);
    throwsLedger(() => verifyConsistency({ ...claim, oldSize: claim.oldSize + 1 }), 'proof_invalid');
    throwsLedger(() => verifyConsistency({ ...claim, proof: claim.proof.slice(1) }), 'proof_invalid');
  });

  it('accepts equal sizes only with an empty proof and equal roots', () => {
    verifyConsistency({ oldSize: 1, newSize: 1, oldRoot: root(1), newRoot: root(1), proof: [] });
    verifyConsistency({ oldSize: 8, newSize: 8, oldRoot: root(8), newRoot: root(8), proof: [] });
    throwsLedger(() => verifyConsistency({ oldSize: 1, newSize: 1, oldRoot: root(1), newRoot: root(2), proof: [] }), 'proof_invalid', /the log forked/);
    throwsLedger(() => verifyConsistency({ oldSize: 1, newSize: 1, oldRoot: EMPTY_ROOT, newRoot: EMPTY_ROOT, proof: [EMPTY_ROOT] }), 'proof_invalid', /must be empty, it has 1 hashes/);
  });

  it('refuses a proof from the empty tree, as the RFC defines none (0 < first < second)', async () => {
    throwsLedger(() => verifyConsistency({ oldSize: 0, newSize: 0, oldRoot: EMPTY_ROOT, newRoot: EMPTY_ROOT, proof: [] }), 'proof_sizes_invalid', /empty tree/);
    throwsLedger(() => verifyConsistency({ oldSize: 0, newSize: 1, oldRoot: EMPTY_ROOT, newRoot: root(1), proof: [] }), 'proof_sizes_invalid', /empty tree/);
    await rejectsLedger(async () => consistencyProof(await vectorStore(), 0, 8), 'proof_sizes_invalid');
  });

  it('refuses a log that shrinks', async () => {
    throwsLedger(() => verifyConsistency({ oldSize: 1, newSize: 0, oldRoot: root(1), newRoot: EMPTY_ROOT, proof: [] }), 'proof_sizes_invalid', /old tree size 1 is larger than new tree size 0/);
    throwsLedger(() => verifyConsistency({ oldSize: 2, newSize: 1, oldRoot: root(2), newRoot: root(1), proof: [] }), 'proof_sizes_invalid');
    await rejectsLedger(async () => consistencyProof(await vectorStore(), 5, 4), 'proof_sizes_invalid');
  });

  it('names the wrong length, and which root a wrong proof led to', () => {
    const vector = CONSISTENCY_PROOFS[2] as (typeof CONSISTENCY_PROOFS)[number];
    const claim = { oldSize: 6, newSize: 8, oldRoot: root(6), newRoot: root(8), proof: vector.proof.map(fromHex) };
    throwsLedger(() => verifyConsistency({ ...claim, proof: [] }), 'proof_invalid', /between tree sizes 6 and 8 has 0 hashes, 3 expected/);
    throwsLedger(() => verifyConsistency({ ...claim, oldRoot: root(5) }), 'proof_invalid', /leads to old root/);
    throwsLedger(() => verifyConsistency({ ...claim, newRoot: root(7) }), 'proof_invalid', /leads to new root/);
    throwsLedger(() => verifyConsistency({ oldSize: 1, newSize: 2, oldRoot: root(1), newRoot: root(2), proof: [] }), 'proof_invalid', /0 hashes, 1 expected/);
  });

  it('cannot prove growth the store has not seen', async () => {
    await rejectsLedger(async () => consistencyProof(await vectorStore(), 3, 9), 'hash_missing', /level 0, index 8/);
    assert.deepEqual(await consistencyProof(await vectorStore(), 8, 8), []);
    assert.equal(toHex(leafHash(fromHex(LEAVES[0] as string))), toHex(root(1)));
  });
});
