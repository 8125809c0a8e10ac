import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { leafHash } from './hash.ts';
import { MemoryHashStore } from './hash-store.ts';
import { IncrementalTree } from './incremental-tree.ts';
import { throwsLedger, toHex } from './testdata/assert.ts';
import { readTile, tileHashes, tileWidth, tilesForGrowth } from './tile.ts';
import { merkleTreeHash } from './tree-hash.ts';

const entry = (i: number): Uint8Array => new TextEncoder().encode(`entry ${i}`);

function summarize(tiles: ReturnType<typeof tilesForGrowth>) {
  const byLevel = new Map<number, { full: number; partial: number[] }>();
  for (const { level, width } of tiles) {
    const row = byLevel.get(level) ?? { full: 0, partial: [] };
    if (width === 256) row.full++;
    else row.partial.push(width);
    byLevel.set(level, row);
  }
  return Object.fromEntries(byLevel);
}

describe('tiles (c2sp.org/tlog-tiles)', () => {
  it("lays out a tree of 70,000 and of 256 entries as the spec's examples say", () => {
    // C2SP/C2SP tlog-tiles.md: "a tree of size 70,000 will be represented by 273 full level 0 tiles, one partial level 0 tile of width 112, one full level 1 tile, one partial level 1 tile of width 17, and one partial level 2 tile of width 1"; "a tree of size 256 will be represented by a full level 0 tile and a partial level 1 tile of width 1".
    assert.deepEqual(summarize(tilesForGrowth(0, 70000)), { 0: { full: 273, partial: [112] }, 1: { full: 1, partial: [17] }, 2: { full: 0, partial: [1] } });
    assert.deepEqual(summarize(tilesForGrowth(0, 256)), { 0: { full: 1, partial: [] }, 1: { full: 0, partial: [1] } });
    assert.deepEqual(tilesForGrowth(0, 0), []);
    assert.equal(tileWidth(70000, 0, 273), 112);
    assert.equal(tileWidth(70000, 0, 274), 0);
  });

  it('names only the tiles that change as the log grows', () => {
    assert.deepEqual(tilesForGrowth(70000, 70000), []);
    assert.deepEqual(tilesForGrowth(70000, 70001), [{ level: 0, index: 273, width: 113 }]);
    assert.deepEqual(tilesForGrowth(255, 256), [
      { level: 0, index: 0, width: 256 },
      { level: 1, index: 0, width: 1 },
    ]);
    assert.deepEqual(tilesForGrowth(65535, 65536), [
      { level: 0, index: 255, width: 256 },
      { level: 1, index: 0, width: 256 },
      { level: 2, index: 0, width: 1 },
    ]);
  });

  it('serves tiles of leaf hashes and of full-tile hashes from the hash store, each partial tile a prefix of the later one', async () => {
    const store = new MemoryHashStore();
    const tree = IncrementalTree.empty();
    const leaves: Uint8Array[] = [];
    const published = new Map<string, Uint8Array>();
    for (let i = 0; i < 256 * 3 + 5; i++) {
      leaves.push(leafHash(entry(i)));
      await store.put(tree.appendEntry(entry(i)));
      for (const tile of tilesForGrowth(i, i + 1)) {
        const data = await readTile(store, tile);
        const earlier = published.get(`${tile.level}/${tile.index}`);
        if (earlier) assert.deepEqual(data.subarray(0, earlier.length), earlier, `tile ${tile.level}/${tile.index} extends its partial version`);
        published.set(`${tile.level}/${tile.index}`, data);
      }
    }
    const levelZero = await readTile(store, { level: 0, index: 1, width: 256 });
    assert.deepEqual(tileHashes(levelZero, 256).map(toHex), leaves.slice(256, 512).map(toHex));
    const levelOne = tileHashes(await readTile(store, { level: 1, index: 0, width: 3 }), 3);
    assert.deepEqual(levelOne.map(toHex), [0, 1, 2].map((n) => toHex(merkleTreeHash(leaves.slice(n * 256, n * 256 + 256)))));
    assert.deepEqual(published.get('0/3'), await readTile(store, { level: 0, index: 3, width: 5 }));
  });

  it('refuses tile data that is not whole hashes or not its width', () => {
    throwsLedger(() => tileHashes(new Uint8Array(31)), 'tile_malformed', /31 bytes/);
    throwsLedger(() => tileHashes(new Uint8Array(0)), 'tile_malformed');
    throwsLedger(() => tileHashes(new Uint8Array(257 * 32)), 'tile_malformed');
    throwsLedger(() => tileHashes(new Uint8Array(64), 3), 'tile_malformed', /holds 2 hashes, its path says 3/);
  });
});
