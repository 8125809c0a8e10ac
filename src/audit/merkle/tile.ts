// c2sp.org/tlog-tiles tiles: tile n of level L is the hashes n·256 … n·256+255 of
// level L of the hash store (see hash-store.ts), concatenated. In a tree of size s,
// level L has ⌊s / 256^L⌋ hashes, so the rightmost tile of each level is usually
// partial; a partial tile is never hashed into the level above.
import { ledgerError } from '../ledger-error.ts';
import { HASH_SIZE } from './hash.ts';
import { TILE_WIDTH, type HashPosition, type HashReader } from './hash-store.ts';
import { checkSize } from './lib/bits.ts';
import type { TileCoordinates } from './tile-path.ts';

/** How many hashes level L has in a tree of `treeSize` entries. */
export const levelSize = (treeSize: number, level: number): number => Math.floor(treeSize / TILE_WIDTH ** level);

/** The width of tile `index` of `level` in a tree of `treeSize`: 256 when full, 0 when it does not exist yet. */
export function tileWidth(treeSize: number, level: number, index: number): number {
  return Math.max(0, Math.min(TILE_WIDTH, levelSize(treeSize, level) - index * TILE_WIDTH));
}

/** The tiles (full and partial) that exist at newSize but not, or narrower, at oldSize: what a log publishes as it grows. */
export function tilesForGrowth(oldSize: number, newSize: number): TileCoordinates[] {
  checkSize(oldSize, 'old tree size');
  checkSize(newSize, 'new tree size');
  const tiles: TileCoordinates[] = [];
  for (let level = 0; levelSize(newSize, level) > 0; level++) {
    const last = Math.ceil(levelSize(newSize, level) / TILE_WIDTH) - 1;
    for (let index = Math.floor(levelSize(oldSize, level) / TILE_WIDTH); index <= last; index++) {
      const width = tileWidth(newSize, level, index);
      if (width > tileWidth(oldSize, level, index)) tiles.push({ level, index, width });
    }
  }
  return tiles;
}

/** The content of a tile, from the hash store. */
export async function readTile(reader: HashReader, { level, index, width }: TileCoordinates): Promise<Uint8Array> {
  if (!Number.isInteger(width) || width < 1 || width > TILE_WIDTH) throw ledgerError('tile_malformed', `tile width must be 1–${TILE_WIDTH}, not ${String(width)}`);
  const positions: HashPosition[] = [];
  for (let i = 0; i < width; i++) positions.push({ level, index: index * TILE_WIDTH + i });
  const hashes = await reader.readHashes(positions);
  const data = new Uint8Array(width * HASH_SIZE);
  hashes.forEach((hash, i) => data.set(hash, i * HASH_SIZE));
  return data;
}

/** Splits tile data into its hashes, checking it is `width` hashes when a width is given. */
export function tileHashes(data: Uint8Array, width?: number): Uint8Array[] {
  if (data.length === 0 || data.length % HASH_SIZE !== 0 || data.length > TILE_WIDTH * HASH_SIZE) {
    throw ledgerError('tile_malformed', `tile data is ${data.length} bytes, not 1–${TILE_WIDTH} hashes of ${HASH_SIZE} bytes`);
  }
  if (width !== undefined && data.length !== width * HASH_SIZE) throw ledgerError('tile_malformed', `tile data holds ${data.length / HASH_SIZE} hashes, its path says ${width}`);
  const hashes: Uint8Array[] = [];
  for (let at = 0; at < data.length; at += HASH_SIZE) hashes.push(data.subarray(at, at + HASH_SIZE));
  return hashes;
}
