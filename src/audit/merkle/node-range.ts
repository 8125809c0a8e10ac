// The hash of any node of the RFC 9162 tree, MTH(D[start:end]), recomputed from the
// stored tile-level hashes. A node of the tree always starts at a multiple of the
// power of two at or above its width, so it is the full subtrees given by the bits of
// its width, largest first: MTH = HASH(0x01 || s1 || HASH(0x01 || s2 || …)). A full
// subtree of 2^h entries is the perfect tree over 2^(h mod 8) hashes of tile level
// ⌊h/8⌋. All hashes a set of nodes needs are read in one call to the store.
import { nodeHash } from './hash.ts';
import { TILE_HEIGHT, type HashPosition, type HashReader } from './hash-store.ts';

/** MTH(D[start:end]): the half-open range of leaf indexes a tree node covers. */
export interface NodeRange {
  start: number;
  end: number;
}

interface FullSubtree {
  /** The tile level its hashes are read from. */
  level: number;
  /** The first of those hashes. */
  first: number;
  /** How many: 2^(height mod 8). */
  count: number;
}

function fullSubtrees({ start, end }: NodeRange): FullSubtree[] {
  const width = end - start;
  let size = 1;
  let height = 0;
  while (size * 2 <= width) {
    size *= 2;
    height++;
  }
  const out: FullSubtree[] = [];
  let at = start;
  for (let left = width; size >= 1; size /= 2, height--) {
    if (left < size) continue;
    if (at % size !== 0) throw new Error(`internal: leaves [${start}, ${end}) are not a node of the tree`);
    const level = Math.floor(height / TILE_HEIGHT);
    const count = 2 ** (height - level * TILE_HEIGHT);
    out.push({ level, first: (at / size) * count, count });
    at += size;
    left -= size;
  }
  return out;
}

function perfectTreeHash(hashes: Uint8Array[]): Uint8Array {
  let row = hashes;
  while (row.length > 1) {
    const next: Uint8Array[] = new Array(row.length / 2);
    for (let i = 0; i < next.length; i++) next[i] = nodeHash(row[2 * i] as Uint8Array, row[2 * i + 1] as Uint8Array);
    row = next;
  }
  return row[0] as Uint8Array;
}

/** MTH of each range (each non-empty and a node of the tree), with one read from the store. */
export async function nodeHashes(reader: HashReader, ranges: readonly NodeRange[]): Promise<Uint8Array[]> {
  const plans = ranges.map(fullSubtrees);
  const positions: HashPosition[] = [];
  for (const plan of plans) for (const { level, first, count } of plan) for (let i = 0; i < count; i++) positions.push({ level, index: first + i });
  const hashes = positions.length === 0 ? [] : await reader.readHashes(positions);
  if (hashes.length !== positions.length) throw new Error(`hash store answered ${hashes.length} hashes for ${positions.length} positions`);
  let next = 0;
  return plans.map((plan) => {
    const subtrees = plan.map(({ count }) => perfectTreeHash(hashes.slice(next, (next += count))));
    let root = subtrees[subtrees.length - 1] as Uint8Array;
    for (let i = subtrees.length - 2; i >= 0; i--) root = nodeHash(subtrees[i] as Uint8Array, root);
    return root;
  });
}
