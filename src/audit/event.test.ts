import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { argumentsDigest, canonicalJson, canonicalJsonByHand } from './event.ts';

describe('canonical JSON of audit events', () => {
  it('sorts keys at every depth, keeps array order and drops undefined members', () => {
    const value = { b: 1, a: { d: [3, { z: true, y: null }], c: 'x' }, u: undefined, e: [undefined, 'é"\n'] };
    assert.equal(canonicalJson(value), '{"a":{"c":"x","d":[3,{"y":null,"z":true}]},"b":1,"e":[null,"é\\"\\n"]}');
    assert.deepEqual(JSON.parse(canonicalJson(value)), { a: { c: 'x', d: [3, { y: null, z: true }] }, b: 1, e: [null, 'é"\n'] });
  });

  it('orders keys that look like array indexes as text, as every other key', () => {
    assert.equal(canonicalJson({ 10: 'a', 9: 'b', x: { 2: 1, 10: 2 } }), '{"10":"a","9":"b","x":{"10":2,"2":1}}');
  });

  it('writes the same text as building it by hand, on generated values', () => {
    let seed = 42;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    const keys = ['a', 'B', 'é', '_', 'z1', '0', '12', '01', 'key with space', '\u0000', '😀'];
    const gen = (depth: number): unknown => {
      const r = next();
      if (depth > 3 || r < 0.3) return [null, true, false, 0, -1.5, 2 ** 60, 'text', '"quoted"\n', undefined][Math.floor(next() * 9)];
      if (r < 0.55) return Array.from({ length: Math.floor(next() * 4) }, () => gen(depth + 1));
      return Object.fromEntries(Array.from({ length: Math.floor(next() * 5) }, () => [keys[Math.floor(next() * keys.length)], gen(depth + 1)]));
    };
    for (let i = 0; i < 2000; i++) {
      const value = gen(0);
      assert.equal(canonicalJson(value), canonicalJsonByHand(value), JSON.stringify(value));
    }
  });

  it('orders keys by UTF-16 code unit, not by locale', () => {
    assert.equal(canonicalJson({ b: 0, B: 0, a: 0, _: 0, é: 0 }), '{"B":0,"_":0,"a":0,"b":0,"é":0}');
  });

  it('gives equal digests for arguments that differ only in key order', () => {
    assert.equal(argumentsDigest({ path: '/r', opts: { a: 1, b: 2 } }), argumentsDigest({ opts: { b: 2, a: 1 }, path: '/r' }));
    assert.notEqual(argumentsDigest({ path: '/r' }), argumentsDigest({ path: '/s' }));
    assert.equal(argumentsDigest(undefined), `sha256:${createHash('sha256').update('{}').digest('hex')}`);
  });
});
