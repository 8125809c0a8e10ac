import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MandateError } from '../errors.ts';
import { parseToolSpec } from './servers.ts';

describe('tool labels on the command line', () => {
  it('reads labels by position, so "internal" means sensitivity first and egress last', () => {
    assert.deepEqual(parseToolSpec('read_file=internal,read,internal'), { name: 'read_file', sensitivity: 'internal', effect: 'read', egress: 'internal' });
  });

  it('keeps the conservative defaults for what is left out', () => {
    assert.deepEqual(parseToolSpec('rm'), { name: 'rm', sensitivity: 'confidential', effect: 'write', egress: 'external' });
    assert.deepEqual(parseToolSpec('search=public,,'), { name: 'search', sensitivity: 'public', effect: 'write', egress: 'external' });
  });

  it('refuses unknown labels and too many of them', () => {
    assert.throws(() => parseToolSpec('x=internal,explode'), (e: unknown) => e instanceof MandateError && e.code === 'invalid_tool_label');
    assert.throws(() => parseToolSpec('x=public,read,internal,extra'), (e: unknown) => e instanceof MandateError && e.code === 'invalid_tool_label');
    assert.throws(() => parseToolSpec('bad name=public'), (e: unknown) => e instanceof MandateError && e.code === 'invalid_tool');
  });
});
