// The tree as the ledger appends to it: only its right edge is kept — the roots of the
// full subtrees that make up a tree of `size` leaves, one per one-bit of size, largest
// first. Appending a leaf merges equal-sized subtrees (at most log2 n hashes); the
// root folds the edge from the right. The edge is the whole state the ledger has to
// persist beside its hash store (8 + 32·popcount(size) bytes), and it can be rebuilt
// from the store.
//
// append() answers the hashes to store: the leaf hash, and the hash of each tile-level
// subtree (256^L entries) the leaf completes.
import { ledgerError } from '../ledger-error.ts';
import { EMPTY_ROOT, HASH_SIZE, checkHash, leafHash, nodeHash } from './hash.ts';
import { TILE_HEIGHT, type HashReader, type StoredHash } from './hash-store.ts';
import { bitCount, checkSize, half, isOdd } from './lib/bits.ts';
import { nodeHashes, type NodeRange } from './node-range.ts';

const SIZE_BYTES = 8;

export class IncrementalTree {
  #size: number;
  /** Roots of the full subtrees on the right edge, largest (leftmost) first. */
  readonly #edge: Uint8Array[];

  private constructor(size: number, edge: Uint8Array[]) {
    this.#size = size;
    this.#edge = edge;
  }

  static empty(): IncrementalTree {
    return new IncrementalTree(0, []);
  }

  /** Restores a tree from what state() returned. */
  static restore(state: Uint8Array): IncrementalTree {
    if (!(state instanceof Uint8Array) || state.length < SIZE_BYTES || (state.length - SIZE_BYTES) % HASH_SIZE !== 0) {
      throw ledgerError('tree_state_malformed', `a tree state is an 8-byte size and 32-byte hashes, not ${state instanceof Uint8Array ? `${state.length} bytes` : typeof state}`);
    }
    const view = new DataView(state.buffer, state.byteOffset, state.byteLength);
    const size = Number(view.getBigUint64(0));
    if (!Number.isSafeInteger(size)) throw ledgerError('tree_state_malformed', `tree state size ${view.getBigUint64(0)} is beyond 2^53`);
    const count = (state.length - SIZE_BYTES) / HASH_SIZE;
    if (count !== bitCount(size)) {
      throw ledgerError('tree_state_malformed', `a tree of ${size} leaves has ${bitCount(size)} subtrees on its right edge, the state holds ${count}`);
    }
    const edge: Uint8Array[] = [];
    for (let i = 0; i < count; i++) edge.push(state.slice(SIZE_BYTES + i * HASH_SIZE, SIZE_BYTES + (i + 1) * HASH_SIZE));
    return new IncrementalTree(size, edge);
  }

  /** Rebuilds the right edge of the tree of `size` leaves from the hash store. */
  static async fromStore(reader: HashReader, size: number): Promise<IncrementalTree> {
    checkSize(size, 'tree size');
    const ranges: NodeRange[] = [];
    let start = 0;
    let width = 1;
    while (width * 2 <= size) width *= 2;
    for (; width >= 1; width /= 2) {
      if (size - start >= width) {
        ranges.push({ start, end: start + width });
        start += width;
      }
    }
    return new IncrementalTree(size, await nodeHashes(reader, ranges));
  }

  get size(): number {
    return this.#size;
  }

  /** Appends an entry; answers the hashes to store for it. */
  appendEntry(entry: Uint8Array): StoredHash[] {
    return this.append(leafHash(entry));
  }

  /** Appends a leaf hash; answers the hashes to store for it. */
  append(leaf: Uint8Array): StoredHash[] {
    checkHash(leaf, 'leaf hash');
    const index = this.#size;
    if (index + 1 > Number.MAX_SAFE_INTEGER) throw ledgerError('tree_size_invalid', 'the tree is full (2^53 - 1 leaves)');
    const stored: StoredHash[] = [{ level: 0, index, hash: leaf }];
    let hash = leaf;
    let height = 0;
    let position = index;
    for (let n = index; isOdd(n); n = half(n)) {
      hash = nodeHash(this.#edge.pop() as Uint8Array, hash);
      height++;
      position = half(position);
      if (height % TILE_HEIGHT === 0) stored.push({ level: height / TILE_HEIGHT, index: position, hash });
    }
    this.#edge.push(hash);
    this.#size = index + 1;
    return stored;
  }

  /** MTH of the tree as it stands. */
  root(): Uint8Array {
    if (this.#edge.length === 0) return EMPTY_ROOT;
    let root = this.#edge[this.#edge.length - 1] as Uint8Array;
    for (let i = this.#edge.length - 2; i >= 0; i--) root = nodeHash(this.#edge[i] as Uint8Array, root);
    return root;
  }

  /** The state to persist: the size (uint64, big-endian), then the right edge's hashes, largest subtree first. */
  state(): Uint8Array {
    const out = new Uint8Array(SIZE_BYTES + this.#edge.length * HASH_SIZE);
    new DataView(out.buffer).setBigUint64(0, BigInt(this.#size));
    this.#edge.forEach((hash, i) => out.set(hash, SIZE_BYTES + i * HASH_SIZE));
    return out;
  }
}
