import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseTraceparent } from './trace-context.ts';

describe('the caller\'s trace from a traceparent', () => {
  it('reads the trace and parent span ids', () => {
    assert.deepEqual(parseTraceparent('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'), { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', parentSpanId: '00f067aa0ba902b7' });
    assert.deepEqual(parseTraceparent('01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-later-field')?.traceId, '4bf92f3577b34da6a3ce929d0e0e4736', 'a later version may add fields');
  });

  it('is no context for anything malformed', () => {
    for (const value of [
      undefined, 42, '', 'garbage',
      'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra',
      '00-00000000000000000000000000000000-00f067aa0ba902b7-01',
      '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01',
      '00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01',
      '00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01',
    ]) assert.equal(parseTraceparent(value), null, String(value));
  });
});
