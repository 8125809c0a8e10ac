import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeEvent } from './audit.ts';

const base = { seq: 7, time: '2026-12-02T10:00:00.000Z', server: 'fs', person: 'alice', agents: ['spiffe://mandate.local/agent/report-bot'], mandate: 'mnd_1', tool: 'read_file', decision: 'allow', reason: null, outcome: null, latency_ms: null };

describe('mandate audit tail lines', () => {
  it('say who asked through which agent, for what, and what came of it', () => {
    assert.equal(describeEvent({ ...base, kind: 'decision' }), '#7  2026-12-02T10:00:00.000Z  decision        alice ← agent/report-bot  fs/read_file  allow  [mnd_1]');
    assert.equal(describeEvent({ ...base, kind: 'result', outcome: 'ok', latency_ms: 1.5 }), '#7  2026-12-02T10:00:00.000Z  result          alice ← agent/report-bot  fs/read_file  ok in 1.5 ms  [mnd_1]');
  });

  it('show an AuthZEN evaluation as who asked about which subject, action and resource', () => {
    const line = describeEvent({ ...base, kind: 'evaluation', server: '', person: null, agents: [], mandate: null, tool: null, method: 'tools/call', decision: 'deny', reason: 'no_permit', caller: 'admin', subject: 'Agent::"agt_1"', resource: 'Tool::"fs/read_file"' });
    assert.equal(line, '#7  2026-12-02T10:00:00.000Z  evaluation      admin asks  Agent::"agt_1" tools/call Tool::"fs/read_file"  deny (no_permit)');
  });

  it('show a revocation as who ended what, why, and how many mandates ended; a decision names its approval', () => {
    const line = describeEvent({ ...base, kind: 'revocation', server: '', person: 'alice', agents: [], tool: null, decision: null, method: 'mandate/revoke', outcome: 'ok', reason: 'task cancelled', caller: 'person alice', subject: 'mandate mnd_1', mandates: ['mnd_1', 'mnd_2', 'mnd_3'] });
    assert.equal(line, '#7  2026-12-02T10:00:00.000Z  revocation      person alice  mandate mnd_1  mandate/revoke (task cancelled): ok, 3 mandates ended  [mnd_1]');
    assert.match(describeEvent({ ...base, kind: 'decision', approval: 'apr_1' }), / {2}allow with apr_1 {2}\[mnd_1\]$/);
  });

  it('show a step of an approval as who took it, the step and the approval', () => {
    const line = describeEvent({ ...base, kind: 'approval', person: 'bob', tool: 'write_file', decision: null, method: 'approval/approve', outcome: 'ok', caller: 'person bob', approval: 'apr_1' });
    assert.equal(line, '#7  2026-12-02T10:00:00.000Z  approval        person bob  fs/write_file  approval/approve ok apr_1  [mnd_1]');
  });
});
