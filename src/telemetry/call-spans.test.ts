import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { StoredAuditEvent } from '../audit/event.ts';
import { CallSpans } from './call-spans.ts';
import type { CompletedSpan } from './otlp.ts';

let seq = 0;
const event = (kind: 'decision' | 'result', overrides: Partial<StoredAuditEvent> = {}): StoredAuditEvent => ({
  seq: ++seq, hash: 'h', kind, time: Date.now(), server: 'fs', person: 'alice', agents: ['spiffe://t/agent/bot'], mandate: 'mnd_1', purpose: 'p',
  method: 'tools/call', tool: 'read_file', argumentsDigest: 'sha256:a', decision: 'allow', reason: null, policies: ['p'], policySetHash: 'sha256:x',
  outcome: kind === 'result' ? 'ok' : null, latencyMs: kind === 'result' ? 2 : null, ...overrides,
});
const sink = (): { spans: CompletedSpan[]; recordCall: (span: CompletedSpan) => void } => {
  const spans: CompletedSpan[] = [];
  return { spans, recordCall: (span) => spans.push(span) };
};
const seqs = (span: CompletedSpan): unknown[] => [span.attributes['mandate.audit.seq'], span.attributes['mandate.audit.result_seq']];

describe('spans of governed calls from committed audit events', () => {
  it('exports a denial at once, and an allowed call with its result, paired by call and arguments in order', () => {
    const out = sink();
    const spans = new CallSpans(out);
    const denied = event('decision', { decision: 'deny', reason: 'tool_outside_scope' });
    const a1 = event('decision');
    const b = event('decision', { argumentsDigest: 'sha256:b' });
    const a2 = event('decision');
    spans.committed([denied, a1, b, a2]);
    assert.deepEqual(out.spans.map(seqs), [[denied.seq, null]]);
    const rb = event('result', { argumentsDigest: 'sha256:b' });
    const ra1 = event('result');
    spans.committed([rb, ra1]);
    assert.deepEqual(out.spans.slice(1).map(seqs), [[b.seq, rb.seq], [a1.seq, ra1.seq]]);
    spans.flush();
    assert.deepEqual(out.spans.slice(3).map(seqs), [[a2.seq, null]], 'at shutdown, the decision still waiting goes alone');
  });

  it('exports alone a decision whose result does not come in time, or when too many wait', () => {
    const out = sink();
    const spans = new CallSpans(out, { maxWaitMs: 1000, maxWaiting: 2 });
    const old = event('decision', { time: Date.now() - 5000 });
    spans.committed([old]);
    assert.deepEqual(out.spans.map(seqs), [[old.seq, null]]);
    const many = [1, 2, 3].map((i) => event('decision', { argumentsDigest: `sha256:${i}` }));
    spans.committed(many);
    assert.deepEqual(out.spans.slice(1).map(seqs), [[many[0]?.seq, null]], 'the oldest of three goes when two may wait');
    spans.committed([event('result', { argumentsDigest: 'sha256:unrelated' })]);
    assert.equal(out.spans.length, 2, 'a result with no decision waiting exports nothing');
  });
});
