// Where the ledger keeps its Merkle tree: exactly the hashes C2SP tlog-tiles serves.
// Level 0 holds the leaf hashes; a hash at level L ≥ 1, index N, is the Merkle Tree
// Hash of the 256^L entries from N·256^L on (one full tile of level L-1). The
// 256 hashes from index 256·n on make up tile n of level L. Every other interior
// node is recomputed from at most 128 hashes of the level below it, so the same
// rows serve tiles, roots and proofs, at about 1.004 hashes per entry.
//
// Stored hashes never change once written: a level-L hash is only written when its
// 256^L entries are all in the log.
import { ledgerError } from '../ledger-error.ts';
import { HASH_SIZE, equalHashes, hex } from './hash.ts';

/** Entries per full tile, and the hashes of one level that one hash of the next level covers. */
export const TILE_WIDTH = 256;
/** Tree levels per tile level: a tile is a subtree of height 8. */
export const TILE_HEIGHT = 8;

export interface HashPosition {
  /** Tile level: 0 for leaf hashes, L for hashes of 256^L entries. */
  level: number;
  /** Index within the level. */
  index: number;
}

export interface StoredHash extends HashPosition {
  hash: Uint8Array;
}

export interface HashReader {
  /** The hashes at the given positions, in the same order. Fails with `hash_missing` if any is not stored. */
  readHashes(positions: readonly HashPosition[]): Promise<Uint8Array[]>;
}

export interface HashStore extends HashReader {
  /** The hash at level L, index N, if stored. */
  get(level: number, index: number): Promise<Uint8Array | undefined>;
  /** Stores hashes (what IncrementalTree.append returns), in one transaction where the store has them. */
  put(hashes: readonly StoredHash[]): Promise<void>;
}

export const hashMissing = (level: number, index: number): Error =>
  ledgerError('hash_missing', `the hash store has no hash at level ${level}, index ${index}`);

interface Level {
  hashes: Uint8Array;
  present: Uint8Array;
  /** The index after the highest stored. */
  end: number;
}

/** A hash store in memory, one contiguous buffer per level (for tests and benchmarks). */
export class MemoryHashStore implements HashStore {
  readonly #levels: Level[] = [];

  async get(level: number, index: number): Promise<Uint8Array | undefined> {
    return this.getSync(level, index);
  }

  async put(hashes: readonly StoredHash[]): Promise<void> {
    this.putSync(hashes);
  }

  async readHashes(positions: readonly HashPosition[]): Promise<Uint8Array[]> {
    return positions.map(({ level, index }) => {
      const found = this.getSync(level, index);
      if (!found) throw hashMissing(level, index);
      return found;
    });
  }

  getSync(level: number, index: number): Uint8Array | undefined {
    const stored = this.#levels[level];
    if (!stored || index < 0 || index >= stored.present.length || stored.present[index] !== 1) return undefined;
    return stored.hashes.subarray(index * HASH_SIZE, (index + 1) * HASH_SIZE);
  }

  putSync(hashes: readonly StoredHash[]): void {
    for (const { level, index, hash } of hashes) {
      if (hash.length !== HASH_SIZE) throw ledgerError('hash_malformed', `hash for level ${level}, index ${index} is ${hash.length} bytes, not ${HASH_SIZE}`);
      const stored = this.#reserve(level, index);
      const existing = this.getSync(level, index);
      if (existing && !equalHashes(existing, hash)) {
        throw new Error(`hash at level ${level}, index ${index} is already stored as ${hex(existing)}; stored hashes never change`);
      }
      stored.hashes.set(hash, index * HASH_SIZE);
      stored.present[index] = 1;
      if (index >= stored.end) stored.end = index + 1;
    }
  }

  /** How many hashes level L holds (a high-water mark: the index after the highest stored). */
  sizeOf(level: number): number {
    return this.#levels[level]?.end ?? 0;
  }

  #reserve(level: number, index: number): Level {
    if (!Number.isSafeInteger(level) || level < 0 || level > 63 || !Number.isSafeInteger(index) || index < 0) {
      throw ledgerError('tree_size_invalid', `no hash can be stored at level ${level}, index ${index}`);
    }
    while (this.#levels.length <= level) this.#levels.push({ hashes: new Uint8Array(0), present: new Uint8Array(0), end: 0 });
    const stored = this.#levels[level] as Level;
    if (index < stored.present.length) return stored;
    let capacity = Math.max(1024, stored.present.length);
    while (capacity <= index) capacity *= 2;
    const hashes = new Uint8Array(capacity * HASH_SIZE);
    hashes.set(stored.hashes);
    const present = new Uint8Array(capacity);
    present.set(stored.present);
    stored.hashes = hashes;
    stored.present = present;
    return stored;
  }
}
