import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EMPTY_ROOT, leafHash, nodeHash } from './hash.ts';
import { toHex } from './testdata/assert.ts';
import { HASHER } from './testdata/rfc6962-vectors.ts';

const text = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('RFC 9162 hashing', () => {
  it('hashes the empty tree, a leaf and a node as the published vectors do', () => {
    assert.equal(toHex(EMPTY_ROOT), HASHER.emptyRoot);
    assert.equal(toHex(leafHash(new Uint8Array(0))), HASHER.emptyLeaf);
    assert.equal(toHex(leafHash(text('L123456'))), HASHER.leafL123456);
    assert.equal(toHex(nodeHash(text('N123'), text('N456'))), HASHER.nodeN123N456);
  });

  it('never gives a leaf the hash of the node over the same bytes (domain separation)', () => {
    const left = leafHash(text('Hello'));
    const right = leafHash(text('World'));
    assert.notEqual(toHex(nodeHash(left, right)), toHex(leafHash(new Uint8Array([...left, ...right]))));
    assert.notEqual(toHex(nodeHash(left, right)), toHex(nodeHash(right, left)));
    assert.notEqual(toHex(EMPTY_ROOT), toHex(leafHash(new Uint8Array(0))));
  });
});
