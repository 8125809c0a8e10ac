// Property tests: random trees up to a few thousand entries, against an independent
// implementation of the RFC's recursive definitions of PATH and PROOF over the leaf
// hashes. Seeded, so a failure can be replayed.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { consistencyProof, verifyConsistency } from './consistency-proof.ts';
import { leafHash, nodeHash } from './hash.ts';
import { MemoryHashStore } from './hash-store.ts';
import { inclusionProof, verifyInclusion } from './inclusion-proof.ts';
import { IncrementalTree } from './incremental-tree.ts';
import { prng as random } from '../../lib/prng.ts';
import { throwsLedger, toHex } from './testdata/assert.ts';
import { merkleTreeHash, treeHashAt } from './tree-hash.ts';

const split = (n: number): number => 2 ** Math.ceil(Math.log2(n) - 1);

/** RFC 9162 §2.1.3.1, recursively. */
function path(m: number, d: Uint8Array[]): Uint8Array[] {
  if (d.length === 1) return [];
  const k = split(d.length);
  return m < k ? [...path(m, d.slice(0, k)), merkleTreeHash(d.slice(k))] : [...path(m - k, d.slice(k)), merkleTreeHash(d.slice(0, k))];
}

/** RFC 9162 §2.1.4.1, recursively. */
function subproof(m: number, d: Uint8Array[], b: boolean): Uint8Array[] {
  if (m === d.length) return b ? [] : [merkleTreeHash(d)];
  const k = split(d.length);
  return m <= k ? [...subproof(m, d.slice(0, k), b), merkleTreeHash(d.slice(k))] : [...subproof(m - k, d.slice(k), false), merkleTreeHash(d.slice(0, k))];
}

function tamper(proof: Uint8Array[], rnd: () => number): Uint8Array[] {
  const i = Math.floor(rnd() * proof.length);
  const bit = Math.floor(rnd() * 256);
  return proof.map((p, j) => (j === i ? Uint8Array.from(p, (b, k) => (k === bit >> 3 ? b ^ (1 << (bit & 7)) : b)) : p));
}

async function randomTree(seed: number, size: number) {
  const rnd = random(seed);
  const store = new MemoryHashStore();
  const tree = IncrementalTree.empty();
  const leaves: Uint8Array[] = [];
  const roots: Uint8Array[] = [tree.root()];
  for (let i = 0; i < size; i++) {
    // Distinct entries, so that moving a proof to another index is a false claim.
    const entry = new Uint8Array(8 + Math.floor(rnd() * 40));
    new DataView(entry.buffer).setFloat64(0, i);
    for (let j = 8; j < entry.length; j++) entry[j] = Math.floor(rnd() * 256);
    leaves.push(leafHash(entry));
    await store.put(tree.appendEntry(entry));
    roots.push(tree.root());
  }
  return { rnd, store, tree, leaves, roots };
}

describe('random trees', () => {
  it('have at every size the root the definition gives, incrementally and from the store', async () => {
    const { store, leaves, roots } = await randomTree(1, 2100);
    for (let n = 0; n <= leaves.length; n++) {
      if (n > 300 && n % 37 !== 0 && n !== leaves.length) continue;
      assert.equal(toHex(roots[n] as Uint8Array), toHex(merkleTreeHash(leaves.slice(0, n))), `incremental root at ${n}`);
      assert.equal(toHex(await treeHashAt(store, n)), toHex(roots[n] as Uint8Array), `stored root at ${n}`);
    }
  });

  it('prove every entry as the RFC defines, and no proof survives tampering', async () => {
    const { rnd, store, leaves, roots } = await randomTree(2, 2600);
    const sizes = [1, 2, 3, 255, 256, 257, 511, 512, 1024, 1025, leaves.length, ...Array.from({ length: 8 }, () => 1 + Math.floor(rnd() * leaves.length))];
    for (const treeSize of sizes) {
      const rootHash = roots[treeSize] as Uint8Array;
      const indexes = treeSize === leaves.length ? leaves.keys() : [0, treeSize - 1, Math.floor(rnd() * treeSize)].values();
      for (const leafIndex of indexes) {
        const proof = await inclusionProof(store, leafIndex, treeSize);
        const claim = { leafIndex, treeSize, leafHash: leaves[leafIndex] as Uint8Array, proof, rootHash };
        verifyInclusion(claim);
        if (treeSize <= 300 || leafIndex % 61 === 0) assert.deepEqual(proof.map(toHex), path(leafIndex, leaves.slice(0, treeSize)).map(toHex), `PATH(${leafIndex}, D[${treeSize}])`);
        if (proof.length > 0) {
          throwsLedger(() => verifyInclusion({ ...claim, proof: tamper(proof, rnd) }), 'proof_invalid');
          throwsLedger(() => verifyInclusion({ ...claim, proof: proof.slice(1) }), 'proof_invalid');
        }
        if (treeSize > 1) throwsLedger(() => verifyInclusion({ ...claim, leafIndex: (leafIndex + 1) % treeSize }), 'proof_invalid');
        throwsLedger(() => verifyInclusion({ ...claim, leafHash: nodeHash(claim.leafHash, claim.leafHash) }), 'proof_invalid');
      }
    }
  });

  it('prove consistency between any two sizes as the RFC defines, and no proof survives tampering', async () => {
    const { rnd, store, leaves, roots } = await randomTree(3, 2300);
    const pairs: [number, number][] = [];
    for (let m = 1; m <= 40; m++) for (let n = m; n <= 40; n++) pairs.push([m, n]);
    for (const edge of [255, 256, 257, 1023, 1024, 1025]) pairs.push([edge, leaves.length], [1, edge], [edge - 1, edge]);
    for (let i = 0; i < 400; i++) {
      const a = 1 + Math.floor(rnd() * leaves.length);
      const b = 1 + Math.floor(rnd() * leaves.length);
      pairs.push([Math.min(a, b), Math.max(a, b)]);
    }
    for (const [oldSize, newSize] of pairs) {
      const proof = await consistencyProof(store, oldSize, newSize);
      const claim = { oldSize, newSize, oldRoot: roots[oldSize] as Uint8Array, newRoot: roots[newSize] as Uint8Array, proof };
      verifyConsistency(claim);
      if (oldSize < newSize) {
        if (newSize <= 300 || oldSize % 13 === 0) assert.deepEqual(proof.map(toHex), subproof(oldSize, leaves.slice(0, newSize), true).map(toHex), `PROOF(${oldSize}, D[${newSize}])`);
        throwsLedger(() => verifyConsistency({ ...claim, proof: tamper(proof, rnd) }), 'proof_invalid');
        throwsLedger(() => verifyConsistency({ ...claim, proof: proof.slice(0, -1) }), 'proof_invalid');
        throwsLedger(() => verifyConsistency({ ...claim, newRoot: roots[newSize - 1] as Uint8Array }), 'proof_invalid');
        if (oldSize > 1) throwsLedger(() => verifyConsistency({ ...claim, oldSize: oldSize - 1 }), 'proof_invalid');
      }
    }
  });
});
