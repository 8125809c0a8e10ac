// The path decided is the path sent: spellings of one path become one, and paths an
// upstream could read as another are refused.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MandateError } from '../../errors.ts';
import { normalizePath } from './path.ts';

describe('normalising a proxied path', () => {
  it('decodes unreserved characters and upper-cases the other escapes', () => {
    assert.equal(normalizePath(''), '/');
    assert.equal(normalizePath('/'), '/');
    assert.equal(normalizePath('/%61dmin/x'), '/admin/x');
    assert.equal(normalizePath('/a%2ab/%7e'), '/a%2Ab/~');
    assert.equal(normalizePath('/repos/acme/app/'), '/repos/acme/app/');
    assert.equal(normalizePath("/q/a:b@c!$&'()*+,;="), "/q/a:b@c!$&'()*+,;=");
  });

  it('refuses dot segments, empty segments, encoded separators and malformed escapes', () => {
    for (const bad of ['x', '/a/../b', '/a/./b', '/a/%2e%2E/b', '/a/%2E', '//a', '/a//b', '/a%2fb', '/a%5Cb', '/a%00', '/a%zz', '/a%', '/a b', '/ü', '/a\\b']) {
      assert.throws(() => normalizePath(bad), (error: unknown) => error instanceof MandateError && error.code === 'invalid_path', bad);
    }
  });
});
