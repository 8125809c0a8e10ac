import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { throwsLedger } from './testdata/assert.ts';
import { encodeTileIndex, entryBundlePath, parseTilePath, tilePath } from './tile-path.ts';

describe('tile paths (c2sp.org/tlog-tiles)', () => {
  it("encodes indexes in x-prefixed 3-digit elements, as the spec's and Go's examples do", () => {
    // C2SP/C2SP tlog-tiles.md (commit 0ad71eb1f1b99acf18deb575978c9205e24860cc): 1234067 → x001/x234/067.
    assert.equal(encodeTileIndex(1234067), 'x001/x234/067');
    // golang/mod sumdb/tlog/tlog_test.go (commit 822dc48338207a7c25d503dfe3cf8384a06fc4e7): tilePaths.
    assert.equal(encodeTileIndex(1), '001');
    assert.equal(encodeTileIndex(123456078), 'x123/x456/078');
    assert.equal(encodeTileIndex(3057500), 'x003/x057/500');
    assert.equal(encodeTileIndex(0), '000');
    assert.equal(encodeTileIndex(999), '999');
    assert.equal(encodeTileIndex(1000), 'x001/000');
  });

  it('formats and parses tile and entry-bundle paths, full and partial', () => {
    const cases = [
      { path: 'tile/0/001', parsed: { kind: 'tile', level: 0, index: 1, width: 256 } },
      { path: 'tile/0/001.p/5', parsed: { kind: 'tile', level: 0, index: 1, width: 5 } },
      { path: 'tile/5/x123/x456/078', parsed: { kind: 'tile', level: 5, index: 123456078, width: 256 } },
      { path: 'tile/5/x123/x456/078.p/2', parsed: { kind: 'tile', level: 5, index: 123456078, width: 2 } },
      { path: 'tile/1/x003/x057/500', parsed: { kind: 'tile', level: 1, index: 3057500, width: 256 } },
      { path: 'tile/63/x001/x234/067.p/255', parsed: { kind: 'tile', level: 63, index: 1234067, width: 255 } },
      { path: 'tile/entries/x001/x234/067', parsed: { kind: 'entries', index: 1234067, width: 256 } },
      { path: 'tile/entries/000.p/1', parsed: { kind: 'entries', index: 0, width: 1 } },
    ] as const;
    for (const { path, parsed } of cases) {
      assert.deepEqual(parseTilePath(path), parsed, path);
      assert.equal(parsed.kind === 'tile' ? tilePath(parsed) : entryBundlePath(parsed), path);
    }
  });

  it('refuses paths that are not in the one canonical form', () => {
    for (const path of [
      'tile/5/123/456/078', // Go's own invalid example: elements before the last need an x
      'tile/-1/x123/x456/078',
      'tile/data/x003/x057/500', // the sumdb entries path, not tlog-tiles'
      'tile/8/0/001', // sumdb's tile/<H>/<L>/<N>
      'tile/64/000',
      'tile/01/000',
      'tile/0/1',
      'tile/0/0001',
      'tile/0/x000/001',
      'tile/0/x001/01',
      'tile/0/001.p/256',
      'tile/0/001.p/0',
      'tile/0/001.p/05',
      'tile/0/001.p',
      'tile/0/001/',
      '/tile/0/001',
      'tile/entries/001.p/5/6',
      'tile/0',
    ]) {
      throwsLedger(() => parseTilePath(path), 'tile_path_malformed', undefined, path);
    }
    throwsLedger(() => tilePath({ level: 0, index: 0, width: 0 }), 'tile_path_malformed', /width/);
    throwsLedger(() => tilePath({ level: 64, index: 0, width: 256 }), 'tile_path_malformed', /level/);
    throwsLedger(() => encodeTileIndex(-1), 'tile_path_malformed');
  });
});
