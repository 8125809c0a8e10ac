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

const refusesLabel = (spec: string, code = 'invalid_tool_label'): void => {
  assert.throws(() => parseToolSpec(spec), (e: unknown) => e instanceof MandateError && e.code === code && e.status === 400, spec);
};

describe('parseToolSpec, position by position', () => {
  it('gives egress internal only from the third position', () => {
    assert.equal(parseToolSpec('read_file=internal,read,internal').egress, 'internal');
    assert.equal(parseToolSpec('read_file=internal,read').egress, 'external');
  });

  it('keeps sensitivity at its default when only egress is given', () => {
    assert.deepEqual(parseToolSpec('ping=,,internal'), { name: 'ping', sensitivity: 'confidential', effect: 'write', egress: 'internal' });
  });

  it('trims spaces around labels', () => {
    assert.deepEqual(parseToolSpec('search= public , read , internal'), { name: 'search', sensitivity: 'public', effect: 'read', egress: 'internal' });
  });

  it('treats a bare "=" as no labels', () => {
    assert.deepEqual(parseToolSpec('rm='), { name: 'rm', sensitivity: 'confidential', effect: 'write', egress: 'external' });
  });

  it('refuses labels given out of order', () => {
    refusesLabel('x=read,internal');
  });

  it('refuses an unknown sensitivity', () => {
    refusesLabel('x=topsecret');
  });

  it('refuses an unknown effect', () => {
    refusesLabel('x=public,delete');
  });

  it('refuses an unknown egress', () => {
    refusesLabel('x=public,read,anywhere');
  });

  it('refuses labels in another case', () => {
    refusesLabel('x=Public');
  });

  it('refuses a missing or malformed tool name', () => {
    refusesLabel('=public', 'invalid_tool');
    refusesLabel('a/b=public', 'invalid_tool');
  });
});
