// Merkle consistency proofs, RFC 9162 §2.1.4: PROOF(m, D[n]), the hashes that show the
// tree of the first m entries is a prefix of the tree of n; generated from the hash
// store, verified exactly as §2.1.4.2 specifies.
//
// The RFC defines the proof for 0 < m < n. For m = n the proof is empty and the two
// roots must be equal (SUBPROOF(n, D[n], true) is empty). m = 0 is refused: the empty
// tree is a prefix of every tree, so there is nothing a proof could show, and a
// verifier that accepted "consistent with size 0" would accept any root.
import { ledgerError } from '../ledger-error.ts';
import { checkHash, equalHashes, hex, nodeHash } from './hash.ts';
import type { HashReader } from './hash-store.ts';
import { checkSize, half, isOdd, isPowerOfTwo, splitPoint } from './lib/bits.ts';
import { nodeHashes, type NodeRange } from './node-range.ts';

/** The tree nodes PROOF(oldSize, D[newSize]) lists, in the RFC's order (deepest first). */
export function consistencyProofNodes(oldSize: number, newSize: number): NodeRange[] {
  const nodes: NodeRange[] = [];
  let start = 0;
  let end = newSize;
  // SUBPROOF(m, D[start:end], b) unrolled: `whole` is b, true while the old tree is the left edge.
  let whole = true;
  for (;;) {
    if (oldSize === end) {
      if (!whole) nodes.push({ start, end });
      break;
    }
    const k = splitPoint(end - start);
    if (oldSize - start <= k) {
      nodes.push({ start: start + k, end });
      end = start + k;
    } else {
      nodes.push({ start, end: start + k });
      start += k;
      whole = false;
    }
  }
  return nodes.reverse();
}

function checkSizes(oldSize: number, newSize: number): void {
  checkSize(oldSize, 'old tree size');
  checkSize(newSize, 'new tree size');
  if (oldSize > newSize) throw ledgerError('proof_sizes_invalid', `old tree size ${oldSize} is larger than new tree size ${newSize}: a log only grows`);
  if (oldSize === 0) throw ledgerError('proof_sizes_invalid', 'there is no consistency proof from the empty tree (RFC 9162 §2.1.4 defines them for 0 < old size)');
}

/** PROOF(oldSize, D[newSize]) from the hash store; empty when the sizes are equal. */
export async function consistencyProof(reader: HashReader, oldSize: number, newSize: number): Promise<Uint8Array[]> {
  checkSizes(oldSize, newSize);
  if (oldSize === newSize) return [];
  return nodeHashes(reader, consistencyProofNodes(oldSize, newSize));
}

export interface ConsistencyClaim {
  oldSize: number;
  newSize: number;
  oldRoot: Uint8Array;
  newRoot: Uint8Array;
  proof: readonly Uint8Array[];
}

/** Verifies that the tree of oldSize with oldRoot is a prefix of the tree of newSize with newRoot; throws proof_invalid if not. */
export function verifyConsistency({ oldSize, newSize, oldRoot, newRoot, proof }: ConsistencyClaim): void {
  checkSizes(oldSize, newSize);
  checkHash(oldRoot, 'old root hash');
  checkHash(newRoot, 'new root hash');
  proof.forEach((c, i) => checkHash(c, `consistency proof[${i}]`));
  const between = `between tree sizes ${oldSize} and ${newSize}`;
  if (oldSize === newSize) {
    if (proof.length !== 0) throw ledgerError('proof_invalid', `consistency proof ${between} must be empty, it has ${proof.length} hashes`);
    if (!equalHashes(oldRoot, newRoot)) throw ledgerError('proof_invalid', `two trees of ${oldSize} entries with different roots (${hex(oldRoot)}, ${hex(newRoot)}): the log forked`);
    return;
  }
  const wrongLength = (): Error => ledgerError('proof_invalid', `consistency proof ${between} has ${proof.length} hashes, ${consistencyProofNodes(oldSize, newSize).length} expected`);
  // Step 1.
  if (proof.length === 0) throw wrongLength();
  // Step 2.
  const path = isPowerOfTwo(oldSize) ? [oldRoot, ...proof] : [...proof];
  // Step 3.
  let fn = oldSize - 1;
  let sn = newSize - 1;
  // Step 4.
  while (isOdd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  // Step 5.
  let fr = path[0] as Uint8Array;
  let sr = path[0] as Uint8Array;
  // Step 6.
  for (const c of path.slice(1)) {
    if (sn === 0) throw wrongLength();
    if (isOdd(fn) || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      if (!isOdd(fn)) {
        while (!(isOdd(fn) || fn === 0)) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  // Step 7.
  if (sn !== 0) throw wrongLength();
  if (!equalHashes(fr, oldRoot)) throw ledgerError('proof_invalid', `consistency proof ${between} leads to old root ${hex(fr)}, not ${hex(oldRoot)}`);
  if (!equalHashes(sr, newRoot)) throw ledgerError('proof_invalid', `consistency proof ${between} leads to new root ${hex(sr)}, not ${hex(newRoot)}`);
}
