// Merkle inclusion proofs, RFC 9162 §2.1.3: PATH(m, D[n]), the hashes a verifier needs
// to recompute the root from leaf m's hash, nearest the leaf first; generated from the
// hash store, verified exactly as §2.1.3.2 specifies.
import { ledgerError } from '../ledger-error.ts';
import { checkHash, equalHashes, hex, nodeHash } from './hash.ts';
import type { HashReader } from './hash-store.ts';
import { checkSize, half, isOdd, splitPoint } from './lib/bits.ts';
import { nodeHashes, type NodeRange } from './node-range.ts';

/** The tree nodes PATH(m, D[n]) lists, nearest the leaf first. */
export function inclusionPathNodes(leafIndex: number, treeSize: number): NodeRange[] {
  const path: NodeRange[] = [];
  let start = 0;
  let end = treeSize;
  // Walks down from the root: at each node, the sibling of the half holding the leaf.
  while (end - start > 1) {
    const k = splitPoint(end - start);
    if (leafIndex < start + k) {
      path.push({ start: start + k, end });
      end = start + k;
    } else {
      path.push({ start, end: start + k });
      start += k;
    }
  }
  return path.reverse();
}

function checkIndex(leafIndex: number, treeSize: number): void {
  checkSize(treeSize, 'tree size');
  if (!Number.isSafeInteger(leafIndex) || leafIndex < 0) throw ledgerError('leaf_index_out_of_range', `leaf index must be a non-negative integer, not ${String(leafIndex)}`);
  if (leafIndex >= treeSize) throw ledgerError('leaf_index_out_of_range', `leaf index ${leafIndex} is not in a tree of ${treeSize} ${treeSize === 1 ? 'entry' : 'entries'}`);
}

/** PATH(leafIndex, D[treeSize]) from the hash store. */
export async function inclusionProof(reader: HashReader, leafIndex: number, treeSize: number): Promise<Uint8Array[]> {
  checkIndex(leafIndex, treeSize);
  return nodeHashes(reader, inclusionPathNodes(leafIndex, treeSize));
}

export interface InclusionClaim {
  leafIndex: number;
  treeSize: number;
  leafHash: Uint8Array;
  proof: readonly Uint8Array[];
}

/** RFC 9162 §2.1.3.2 steps 1–4 and the sn check of step 5: the root the proof leads to. */
export function rootFromInclusionProof({ leafIndex, treeSize, leafHash, proof }: InclusionClaim): Uint8Array {
  // Step 1.
  checkIndex(leafIndex, treeSize);
  checkHash(leafHash, 'leaf hash');
  proof.forEach((p, i) => checkHash(p, `inclusion proof[${i}]`));
  const needed = (): number => inclusionPathNodes(leafIndex, treeSize).length;
  // Steps 2 and 3.
  let fn = leafIndex;
  let sn = treeSize - 1;
  let r = leafHash;
  // Step 4.
  for (const p of proof) {
    if (sn === 0) throw ledgerError('proof_invalid', `inclusion proof for leaf ${leafIndex} in a tree of ${treeSize} has ${proof.length} hashes, ${needed()} expected`);
    if (isOdd(fn) || fn === sn) {
      r = nodeHash(p, r);
      if (!isOdd(fn)) {
        while (!(isOdd(fn) || fn === 0)) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  // Step 5, first half.
  if (sn !== 0) throw ledgerError('proof_invalid', `inclusion proof for leaf ${leafIndex} in a tree of ${treeSize} has ${proof.length} hashes, ${needed()} expected`);
  return r;
}

/** Verifies that leafHash is the leaf at leafIndex of the tree of treeSize whose root is rootHash; throws proof_invalid if not. */
export function verifyInclusion(claim: InclusionClaim & { rootHash: Uint8Array }): void {
  const r = rootFromInclusionProof(claim);
  checkHash(claim.rootHash, 'root hash');
  // Step 5, second half.
  if (!equalHashes(r, claim.rootHash)) {
    throw ledgerError('proof_invalid', `inclusion proof for leaf ${claim.leafIndex} in a tree of ${claim.treeSize} leads to root ${hex(r)}, not ${hex(claim.rootHash)}`);
  }
}
