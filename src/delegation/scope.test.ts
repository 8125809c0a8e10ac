import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MandateError } from '../errors.ts';
import { covers, normalizeScope, notCovered, scopeFromString, serversOf } from './scope.ts';

describe('mandate scope', () => {
  it('normalises: sorted, de-duplicated, single tools absorbed by their wildcard', () => {
    assert.deepEqual(normalizeScope(['fs/write_file', 'fs/read_file', 'fs/read_file']), ['fs/read_file', 'fs/write_file']);
    assert.deepEqual(normalizeScope(['fs/read_file', 'fs/*', 'db/query']), ['db/query', 'fs/*']);
  });

  it('refuses malformed actions', () => {
    for (const bad of ['fs', '/read', 'fs/', 'FS/read', 'fs/read file', 'fs/*x', 'fs/prompt:', 'fs/prompt:a b', 'fs/resource:file:///etc', 'fs/resource:']) {
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

  it('names prompts one by one or all together, and resources of a server together', () => {
    assert.deepEqual(normalizeScope(['fs/prompt:summarize', 'fs/resource:*', 'fs/read_file']), ['fs/prompt:summarize', 'fs/read_file', 'fs/resource:*']);
    assert.deepEqual(normalizeScope(['fs/prompt:summarize', 'fs/prompt:*']), ['fs/prompt:*']);
    assert.equal(covers(['fs/prompt:*'], 'fs/prompt:summarize'), true);
    assert.equal(covers(['fs/*'], 'fs/prompt:summarize'), true);
    assert.equal(covers(['fs/*'], 'fs/resource:*'), true);
    assert.equal(covers(['fs/prompt:summarize'], 'fs/prompt:*'), false);
    assert.equal(covers(['fs/read_file'], 'fs/resource:*'), false);
    assert.equal(covers(['fs/prompt:*'], 'fs/summarize'), false, 'prompts do not cover a tool of the same name');
  });

  it('splits an OAuth scope string', () => {
    assert.deepEqual(scopeFromString(' fs/a  fs/b '), ['fs/a', 'fs/b']);
  });
});

const refusesScope = (fn: () => unknown): void => {
  assert.throws(fn, (e: unknown) => e instanceof MandateError && e.code === 'invalid_scope' && e.status === 400);
};

describe('normalizeScope', () => {
  it('keeps a wildcard from absorbing another server\'s tools', () => {
    assert.deepEqual(normalizeScope(['fs/*', 'fs2/read_file', 'fsx/read_file']), ['fs/*', 'fs2/read_file', 'fsx/read_file']);
  });

  it('keeps tool names case-sensitive', () => {
    assert.deepEqual(normalizeScope(['fs/Read', 'fs/read']), ['fs/Read', 'fs/read']);
  });

  it('refuses an action with a path in its tool name', () => {
    refusesScope(() => normalizeScope(['fs/../db/query']));
  });
});

describe('covers', () => {
  it('covers an exact action', () => {
    assert.equal(covers(['fs/read_file', 'db/query'], 'db/query'), true);
  });

  it('does not let fs/* cover a server whose name starts with fs', () => {
    assert.equal(covers(['fs/*'], 'fsx/read_file'), false);
    assert.equal(covers(['fs/*'], 'fs2/read_file'), false);
  });

  it('refuses to judge a malformed action instead of covering it', () => {
    refusesScope(() => covers(['fs/*'], 'fs'));
    refusesScope(() => covers(['fs/*'], 'fs/../db/query'));
  });

  it('covers nothing with an empty scope', () => {
    assert.equal(covers([], 'fs/read_file'), false);
    assert.equal(covers([], 'fs/*'), false);
  });
});

describe('notCovered', () => {
  it('names fs/* as not covered by single-tool grants', () => {
    assert.deepEqual(notCovered(['fs/read_file', 'fs/write_file'], ['fs/*']), ['fs/*']);
  });

  it('finds nothing beyond fs/* for fs/* and its tools', () => {
    assert.deepEqual(notCovered(['fs/*'], ['fs/*', 'fs/read_file', 'fs/delete_everything']), []);
  });

  it('names actions on other servers beyond fs/*', () => {
    assert.deepEqual(notCovered(['fs/*'], ['fs/read_file', 'db/query', 'fsx/read_file']), ['db/query', 'fsx/read_file']);
  });

  it('finds nothing beyond for an empty request', () => {
    assert.deepEqual(notCovered(['fs/read_file'], []), []);
  });
});

describe('serversOf', () => {
  it('lists each server once', () => {
    assert.deepEqual(serversOf(['fs/read_file', 'fs/*', 'db/query']), ['fs', 'db']);
  });
});
