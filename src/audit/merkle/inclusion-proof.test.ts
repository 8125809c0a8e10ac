import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EMPTY_ROOT, leafHash } from './hash.ts';
import { MemoryHashStore } from './hash-store.ts';
import { IncrementalTree } from './incremental-tree.ts';
import { inclusionProof, rootFromInclusionProof, verifyInclusion } from './inclusion-proof.ts';
import * as argon from './testdata/argon2020.ts';
import { fromBase64, fromHex, rejectsLedger, throwsLedger, toHex } from './testdata/assert.ts';
import { INCLUSION_PROOFS, LEAVES, ROOTS, SOME_HASH } from './testdata/rfc6962-vectors.ts';

const leafHashes = LEAVES.map((leaf) => leafHash(fromHex(leaf)));

async function vectorStore(): Promise<MemoryHashStore> {
  const store = new MemoryHashStore();
  const tree = IncrementalTree.empty();
  for (const hash of leafHashes) await store.put(tree.append(hash));
  return store;
}

/** transparency-dev/merkle's corruptInclusionProof: each must fail to verify. */
function corruptions(leafIndex: number, treeSize: number, proof: Uint8Array[], rootHash: Uint8Array, leaf: Uint8Array) {
  const flip = (i: number) => proof.map((p, j) => (j === i ? Uint8Array.from(p, (b, k) => (k === 0 ? b ^ 8 : b)) : p));
  const probes = [
    { desc: 'leafIndex - 1', leafIndex: leafIndex - 1 },
    { desc: 'leafIndex + 1', leafIndex: leafIndex + 1 },
    { desc: 'leafIndex ^ 2', leafIndex: leafIndex ^ 2 },
    { desc: 'treeSize * 2', treeSize: treeSize * 2 },
    { desc: 'treeSize / 2', treeSize: Math.floor(treeSize / 2) },
    { desc: 'wrong leaf', leafHash: new TextEncoder().encode('WrongLeaf') },
    { desc: 'empty root', rootHash: EMPTY_ROOT },
    { desc: 'random root', rootHash: fromHex(SOME_HASH) },
    { desc: 'trailing garbage', proof: [...proof, new Uint8Array(0)] },
    { desc: 'trailing root', proof: [...proof, rootHash] },
    { desc: 'preceding garbage', proof: [new Uint8Array(0), ...proof] },
    { desc: 'preceding root', proof: [rootHash, ...proof] },
    ...proof.map((_, i) => ({ desc: `modified proof[${i}] bit 3`, proof: flip(i) })),
    ...(proof.length > 0 ? [{ desc: 'removed component', proof: proof.slice(0, -1) }] : []),
    ...(proof.length > 1 ? [{ desc: 'inserted component', proof: [proof[0] as Uint8Array, fromHex(SOME_HASH), ...proof.slice(1)] }] : []),
  ];
  return probes.map((probe) => ({ leafIndex, treeSize, leafHash: leaf, proof, rootHash, ...probe }));
}

describe('inclusion proofs (RFC 9162 §2.1.3)', () => {
  it('generates exactly the published proofs from the hash store, and they verify', async () => {
    const store = await vectorStore();
    for (const vector of INCLUSION_PROOFS) {
      const proof = await inclusionProof(store, vector.leafIndex, vector.treeSize);
      assert.deepEqual(proof.map(toHex), vector.proof, `leaf ${vector.leafIndex} of ${vector.treeSize}`);
      const rootHash = fromHex(ROOTS[vector.treeSize - 1] as string);
      verifyInclusion({ leafIndex: vector.leafIndex, treeSize: vector.treeSize, leafHash: leafHashes[vector.leafIndex] as Uint8Array, proof, rootHash });
    }
  });

  it('refuses every corruption of the published proofs that transparency-dev/merkle probes', () => {
    for (const vector of INCLUSION_PROOFS) {
      const proof = vector.proof.map(fromHex);
      const rootHash = fromHex(ROOTS[vector.treeSize - 1] as string);
      for (const probe of corruptions(vector.leafIndex, vector.treeSize, proof, rootHash, leafHashes[vector.leafIndex] as Uint8Array)) {
        throwsLedger(() => verifyInclusion(probe), ['proof_invalid', 'leaf_index_out_of_range', 'hash_malformed'], undefined, `leaf ${vector.leafIndex} of ${vector.treeSize}, ${probe.desc}`);
      }
    }
  });

  it('verifies a real inclusion proof of the Argon 2020 CT log (entry 10,000 of 961,984,013)', () => {
    const claim = { leafIndex: argon.LEAF_INDEX, treeSize: argon.STH.treeSize, leafHash: leafHash(fromBase64(argon.LEAF_INPUT)), proof: argon.AUDIT_PATH.map(fromBase64) };
    verifyInclusion({ ...claim, rootHash: fromBase64(argon.STH.rootHash) });
    throwsLedger(() => verifyInclusion({ ...claim, leafIndex: claim.leafIndex + 1, rootHash: fromBase64(argon.STH.rootHash) }), 'proof_invalid', /leads to root/);
  });

  it('proves a tree of one entry with an empty path, and refuses anything but that entry', () => {
    const hash = leafHash(new TextEncoder().encode('data'));
    verifyInclusion({ leafIndex: 0, treeSize: 1, leafHash: hash, proof: [], rootHash: hash });
    throwsLedger(() => verifyInclusion({ leafIndex: 0, treeSize: 1, leafHash: new Uint8Array(0), proof: [], rootHash: hash }), 'hash_malformed', /leaf hash/);
    throwsLedger(() => verifyInclusion({ leafIndex: 0, treeSize: 1, leafHash: hash, proof: [], rootHash: new Uint8Array(0) }), 'hash_malformed', /root hash/);
    throwsLedger(() => verifyInclusion({ leafIndex: 0, treeSize: 1, leafHash: hash, proof: [hash], rootHash: hash }), 'proof_invalid', /1 hashes, 0 expected/);
  });

  it('refuses leaf indexes outside the tree, as step 1 says', () => {
    for (const [leafIndex, treeSize] of [[0, 0], [1, 0], [2, 1], [8, 8], [-1, 8], [0.5, 8]] as const) {
      throwsLedger(() => verifyInclusion({ leafIndex, treeSize, leafHash: fromHex(SOME_HASH), proof: [], rootHash: EMPTY_ROOT }), 'leaf_index_out_of_range');
    }
  });

  it('says how many hashes a proof of the wrong length should have had, and which root it led to', () => {
    const proof = INCLUSION_PROOFS[1]?.proof.map(fromHex) as Uint8Array[];
    const claim = { leafIndex: 0, treeSize: 8, leafHash: leafHashes[0] as Uint8Array, rootHash: fromHex(ROOTS[7] as string) };
    throwsLedger(() => verifyInclusion({ ...claim, proof: proof.slice(0, 2) }), 'proof_invalid', /has 2 hashes, 3 expected/);
    throwsLedger(() => verifyInclusion({ ...claim, proof: [...proof, proof[0] as Uint8Array] }), 'proof_invalid', /has 4 hashes, 3 expected/);
    throwsLedger(() => verifyInclusion({ ...claim, proof, rootHash: fromHex(ROOTS[6] as string) }), 'proof_invalid', new RegExp(`leads to root ${ROOTS[7]}, not ${ROOTS[6]}`));
    assert.equal(toHex(rootFromInclusionProof({ ...claim, proof })), ROOTS[7]);
  });

  it('cannot prove a leaf the store does not hold', async () => {
    const store = await vectorStore();
    await rejectsLedger(() => inclusionProof(store, 3, 9), 'hash_missing', /level 0, index 8/);
    await rejectsLedger(() => inclusionProof(store, 8, 8), 'leaf_index_out_of_range', /leaf index 8 is not in a tree of 8 entries/);
  });
});
