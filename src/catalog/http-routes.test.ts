// Scope entries of HTTP APIs: `<METHOD>:<path pattern>`, and what they match.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { matchingEntries, parseHttpAction } from './http-routes.ts';

describe('HTTP API scope entries', () => {
  it('parse as a method (or *) and an absolute path pattern', () => {
    assert.deepEqual(parseHttpAction('GET:/repos/*'), { method: 'GET', pattern: '/repos/*' });
    assert.deepEqual(parseHttpAction('*:/status'), { method: '*', pattern: '/status' });
    assert.deepEqual(parseHttpAction('DELETE:/repos/**'), { method: 'DELETE', pattern: '/repos/**' });
    for (const bad of ['get:/x', 'FETCH:/x', 'GET:x', 'GET:/a//b', 'GET:/a/../b', 'GET:/a/**/b', 'GET:/a**', 'GET:/a b', 'GET:/%2f', 'read_file', 'prompt:x', 'resource:*', `GET:/${'a'.repeat(600)}`]) {
      assert.equal(parseHttpAction(bad), null, bad);
    }
  });

  it('match the method and the path: * within a segment, ** for everything below', () => {
    const scope = ['api/GET:/repos/*', 'api/POST:/repos/*/issues', 'api/*:/status', 'api/GET:/files/**', 'api/read_file', 'other/GET:/repos/*'];
    const match = (method: string, path: string) => matchingEntries(scope, 'api', method, path);
    assert.deepEqual(match('GET', '/repos/app'), ['api/GET:/repos/*']);
    assert.deepEqual(match('GET', '/repos/app/issues'), []);
    assert.deepEqual(match('POST', '/repos/app/issues'), ['api/POST:/repos/*/issues']);
    assert.deepEqual(match('DELETE', '/repos/app'), []);
    assert.deepEqual(match('PUT', '/status'), ['api/*:/status']);
    assert.deepEqual(match('GET', '/files/a/b/c.txt'), ['api/GET:/files/**']);
    assert.deepEqual(match('GET', '/files/'), ['api/GET:/files/**']);
    assert.deepEqual(match('GET', '/files'), []);
    assert.deepEqual(match('GET', '/repos.x'), [], 'a "." in a pattern is literal');
  });
});
