import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ReplayCache } from './replay-cache.ts';

test('a value is accepted once within its window, and again only after it expired', () => {
  const cache = new ReplayCache();
  assert.equal(cache.consume('dpop:k:1', 160, 100), true);
  assert.equal(cache.consume('dpop:k:1', 160, 150), false);
  assert.equal(cache.consume('dpop:k:1', 260, 161), true);
});

test('a cache full of live values keeps refusing replays, and is not walked on every insertion', () => {
  const cache = new ReplayCache();
  for (let i = 0; i < 60_000; i++) assert.equal(cache.consume(`dpop:k:${i}`, 1060, 1000), true);
  const before = cache.sweeps;
  for (let i = 60_000; i < 62_000; i++) cache.consume(`dpop:k:${i}`, 1060, 1000);
  // Sweeping the whole cache on every insertion cost about a millisecond each.
  assert.equal(cache.sweeps - before, 0, 'no sweep until the cache has doubled since the last');
  assert.ok(cache.sweeps <= 1, `swept ${cache.sweeps} times for 62,000 insertions`);
  for (const i of [0, 30_000, 61_999]) assert.equal(cache.consume(`dpop:k:${i}`, 1060, 1000), false);
});

test('expired values are swept out once the cache has grown', () => {
  const cache = new ReplayCache();
  for (let i = 0; i < 50_000; i++) cache.consume(`old:${i}`, 1010, 1000);
  cache.consume('new:0', 2060, 2000);
  assert.equal(cache.size, 1);
});
