import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MandateError } from '../errors.ts';
import { covers, normalizeScope, notCovered, scopeFromString } from './scope.ts';

describe('mandate scope', () => {
  it('normalises: sorted, de-duplicated, single tools absorbed by their wildcard', () => {
    assert.deepEqual(normalizeScope(['fs/write_file', 'fs/read_file', 'fs/read_file']), ['fs/read_file', 'fs/write_file']);
    assert.deepEqual(normalizeScope(['fs/read_file', 'fs/*', 'db/query']), ['db/query', 'fs/*']);
  });

  it('refuses malformed actions', () => {
    for (const bad of ['fs', '/read', 'fs/', 'FS/read', 'fs/read file', 'fs/*x']) {
      assert.throws(() => normalizeScope([bad]), (e: unknown) => e instanceof MandateError && e.code === 'invalid_scope', bad);
    }
  });

  it('decides coverage, wildcards included', () => {
    assert.equal(covers(['fs/*'], 'fs/anything'), true);
    assert.equal(covers(['fs/*'], 'fs/*'), true);
    assert.equal(covers(['fs/read_file'], 'fs/*'), false);
    assert.equal(covers(['fs/read_file'], 'db/read_file'), false);
    assert.deepEqual(notCovered(['fs/read_file'], ['fs/read_file', 'fs/write_file']), ['fs/write_file']);
  });

  it('splits an OAuth scope string', () => {
    assert.deepEqual(scopeFromString(' fs/a  fs/b '), ['fs/a', 'fs/b']);
  });
});
