// The Merkle Tree Hash of RFC 9162 §2.1.1, two ways: straight from the definition over
// a list of leaf hashes (the reference the other parts are tested against), and at
// any tree size from the hash store.
import { EMPTY_ROOT, nodeHash } from './hash.ts';
import type { HashReader } from './hash-store.ts';
import { checkSize, splitPoint } from './lib/bits.ts';
import { nodeHashes } from './node-range.ts';

/** MTH(D[n]) over leaf hashes: split at the largest power of two smaller than n. */
export function merkleTreeHash(leafHashes: readonly Uint8Array[]): Uint8Array {
  if (leafHashes.length === 0) return EMPTY_ROOT;
  if (leafHashes.length === 1) return leafHashes[0] as Uint8Array;
  const k = splitPoint(leafHashes.length);
  return nodeHash(merkleTreeHash(leafHashes.slice(0, k)), merkleTreeHash(leafHashes.slice(k)));
}

/** The root hash of the tree of its first `size` entries, from the hash store. */
export async function treeHashAt(reader: HashReader, size: number): Promise<Uint8Array> {
  checkSize(size, 'tree size');
  if (size === 0) return EMPTY_ROOT;
  const [root] = await nodeHashes(reader, [{ start: 0, end: size }]);
  return root as Uint8Array;
}
