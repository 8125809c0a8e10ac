// Policy tests and replay over the real schema: what a test file can assert (the
// decision — needs-approval too —, its policies and approvers, the shadow decision,
// evaluation errors), how it refuses a
// request the schema would not admit, and how a replay reads recorded decisions.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { PolicyEngine } from './engine.ts';
import { PolicySet } from './policy-set.ts';
import { parseTestFile, runTests } from './policy-test.ts';
import { Replay, type RecordedDecision } from './replay.ts';

const SCHEMA = { origin: 'schema.cedarschema', text: readFileSync(new URL('../../policies/schema.cedarschema', import.meta.url), 'utf8') };
const GRANT = '@id("owner-may-grant")\npermit (principal is Person, action == Action::"mandate/grant", resource is Agent)\nwhen { resource.owner == principal };\n';
const engineOf = (...texts: string[]): PolicyEngine => new PolicyEngine(PolicySet.load(texts.map((text, i) => ({ origin: `p${i}.cedar`, text })), SCHEMA));

const file = (tests: unknown[]): string => JSON.stringify({
  entities: [
    { uid: 'Person::"alice"', attrs: { status: 'active' } },
    { uid: 'Agent::"bot"', attrs: { owner: { __entity: { type: 'Person', id: 'alice' } }, environment: 'dev', status: 'active', name: 'bot', purpose: 'p', spiffe_id: 'spiffe://t/agent/bot' } },
  ],
  defaults: { 'mandate/grant': { context: { purpose: 'p', scope: ['fs/read_file'], ttl: 900, time: { now: 0, weekday: 4, hour: 0, minute: 0 } } } },
  tests,
});
const grantTest = (extra: Record<string, unknown>) => ({ name: 'grant', principal: 'Person::"alice"', action: 'mandate/grant', resource: { type: 'Agent', id: 'bot' }, ...extra });

describe('policy tests', () => {
  it('assert the decision, its determining policies and the shadow decision', () => {
    const engine = engineOf(GRANT, '@id("long-ttl")\n@mode("shadow")\nforbid (principal, action == Action::"mandate/grant", resource)\nwhen { context.ttl > 600 };\n');
    const results = runTests('t.json', parseTestFile('t.json', file([
      grantTest({ expect: 'allow', policies: ['owner-may-grant'], shadow: 'deny' }),
      grantTest({ name: 'short', context: { ttl: 60 }, expect: 'allow', shadow: 'allow' }),
      grantTest({ name: 'wrong', expect: 'deny', policies: ['long-ttl'], shadow: 'allow' }),
    ])), engine, SCHEMA);
    assert.deepEqual(results.map((r) => [r.name, r.passed, r.failures]), [
      ['grant', true, []],
      ['short', true, []],
      ['wrong', false, [
        'expected deny, got allow (by owner-may-grant)',
        'expected the decision by long-ttl, got it by owner-may-grant',
        'expected the shadow decision allow, got deny (by long-ttl)',
      ]],
    ]);
    assert.deepEqual(results[0]?.got, { decision: 'allow', policies: ['owner-may-grant'], errors: [], shadow: 'deny', shadow_policies: ['long-ttl'] });
  });

  it('fail on evaluation errors unless they are expected', () => {
    const engine = engineOf(GRANT, '@id("overflows")\nforbid (principal, action == Action::"mandate/grant", resource)\nwhen { context.ttl * 4611686018427387904 > 0 };\n');
    const results = runTests('t.json', parseTestFile('t.json', file([grantTest({ expect: 'deny' }), grantTest({ name: 'expected', expect: 'deny', errors: true })])), engine, SCHEMA);
    assert.deepEqual(results.map((r) => [r.name, r.passed]), [['grant', false], ['expected', true]]);
    assert.match(results[0]?.failures[0] ?? '', /^evaluation errors: overflows: /);
  });

  it('refuse a request the schema would not admit, and a test\'s entity replaces a shared one', () => {
    const results = runTests('t.json', parseTestFile('t.json', file([
      grantTest({ name: 'typo', context: { purpose: 'p', scope: [], ttl: '900', time: { now: 0, weekday: 4, hour: 0, minute: 0 } }, expect: 'allow' }),
      grantTest({ name: 'other owner', entities: [{ uid: 'Agent::"bot"', attrs: { owner: { __entity: { type: 'Person', id: 'bob' } }, environment: 'dev', status: 'active', name: 'bot', purpose: 'p', spiffe_id: 's' } }], expect: 'deny', policies: [] }),
      grantTest({ name: 'no such action', action: 'mandate/steal', expect: 'deny' }),
    ])), engineOf(GRANT), SCHEMA);
    assert.equal(results[0]?.passed, false);
    assert.match(results[0]?.failures[0] ?? '', /^the request does not match the schema: .*ttl/);
    assert.equal(results[1]?.passed, true);
    assert.deepEqual(results[2]?.failures, ['the schema has no action "mandate/steal"']);
  });

  it('assert needs-approval and its approvers, apart from a deny', () => {
    const engine = engineOf(GRANT, '@id("long-needs-owner")\n@approval("owner, group:leads")\nforbid (principal, action == Action::"mandate/grant", resource)\nwhen { context.ttl > 600 };\n');
    const results = runTests('t.json', parseTestFile('t.json', file([
      grantTest({ expect: 'needs-approval', policies: ['long-needs-owner'], approvers: [['owner', 'group:leads']] }),
      grantTest({ name: 'short', context: { ttl: 60 }, expect: 'allow' }),
      grantTest({ name: 'as a deny', expect: 'deny' }),
      grantTest({ name: 'other approvers', expect: 'needs-approval', approvers: [['initiator']] }),
    ])), engine, SCHEMA);
    assert.deepEqual(results.map((r) => [r.name, r.passed, r.failures]), [
      ['grant', true, []],
      ['short', true, []],
      ['as a deny', false, ['expected deny, got needs-approval (by long-needs-owner; approvers owner or group:leads)']],
      ['other approvers', false, ['expected approval by initiator, got approval by owner or group:leads']],
    ]);
    assert.deepEqual(results[0]?.got, {
      decision: 'needs-approval', policies: ['long-needs-owner'], approvers: [['owner', 'group:leads']], errors: [],
      shadow: 'needs-approval', shadow_policies: ['long-needs-owner'], shadow_approvers: [['owner', 'group:leads']],
    });
  });

  it('name what is wrong with a test file', () => {
    assert.throws(() => parseTestFile('t.json', file([{ name: 'x', principal: 'alice', action: 'mandate/grant', resource: 'Agent::"bot"', expect: 'maybe' }])),
      /^MandateError: t\.json is not a policy test file: tests\.0\.principal: "alice" is not an entity uid: write Type::"id" or \{"type": …, "id": …\}; tests\.0\.expect: /);
    assert.throws(() => parseTestFile('t.json', '{"tests": ['), /t\.json is not valid JSON/);
  });
});

describe('replay', () => {
  const request = (ttl: number) => ({
    principal: { type: 'Person', id: 'alice' }, action: 'mandate/grant', resource: { type: 'Agent', id: 'bot' },
    context: { purpose: 'p', scope: [], ttl, time: { now: 0, weekday: 4, hour: 0, minute: 0 } },
    entities: [{ uid: { type: 'Agent', id: 'bot' }, attrs: { owner: { __entity: { type: 'Person', id: 'alice' } } }, parents: [] }],
  });
  const recorded = (seq: number, fields: Partial<RecordedDecision>): RecordedDecision => ({
    seq, time: 1767225600000 + seq, person: 'alice', agent: 'spiffe://t/agent/bot', server: 'fs', method: 'tools/call', target: 'read_file',
    decision: 'allow', reason: null, policies: ['owner-may-grant'], policySetHash: 'sha256:old', request: request(60), ...fields,
  });

  it('compares the policy\'s own decision: a budget refusal after an allow counts as allowed', () => {
    const replay = new Replay(engineOf(GRANT, '@id("short-only")\nforbid (principal, action == Action::"mandate/grant", resource) when { context.ttl > 600 };\n'), 0);
    replay.add(recorded(1, {}));
    replay.add(recorded(2, { request: request(900) }));
    replay.add(recorded(3, { decision: 'deny', reason: 'mandate_exhausted', request: request(900) }));
    replay.add(recorded(4, { decision: 'deny', reason: 'tool_outside_scope', policies: [], request: request(60) }));
    replay.add(recorded(5, { request: null }));
    const report = replay.report();
    assert.deepEqual(report.changes.map((c) => [c.seq, c.change, c.replayed.policies]), [[2, 'allow→deny', ['short-only']], [3, 'allow→deny', ['short-only']], [4, 'deny→allow', ['owner-may-grant']]]);
    assert.deepEqual([report.replayed, report.unchanged, report.skipped, report.recorded_under], [4, 1, 1, ['sha256:old']]);
    assert.deepEqual(report.by_policy, [{ policy: 'short-only', allow_to_deny: 2, deny_to_allow: 0, to_approval: 0, from_approval: 0 }, { policy: 'owner-may-grant', allow_to_deny: 0, deny_to_allow: 1, to_approval: 0, from_approval: 0 }]);
  });

  it('reports changes to and from needs-approval, and decides a call that held an approval as the gateway does', () => {
    const replay = new Replay(engineOf(GRANT, '@id("long-needs-owner")\n@approval("owner")\nforbid (principal, action == Action::"mandate/grant", resource) when { context.ttl > 600 };\n'), 0);
    const approved = { ...request(900), context: { ...request(900).context, approvals: [{ __entity: { type: 'Person', id: 'alice' } }] } };
    replay.add(recorded(1, { request: request(900) }));
    replay.add(recorded(2, { decision: 'deny', reason: 'approval_required', policies: ['long-needs-owner'], request: request(60) }));
    replay.add(recorded(3, { decision: 'deny', reason: 'approval_required', policies: ['long-needs-owner'], request: request(900) }));
    replay.add(recorded(4, { request: approved }));
    // A failure stays a deny, never a needs-approval.
    replay.add(recorded(5, { decision: 'deny', reason: 'decision_failed', policies: ['long-needs-owner'], request: { ...request(900), entities: [] } }));
    const report = replay.report();
    assert.deepEqual(report.changes.map((c) => [c.seq, c.change, c.recorded.decision, c.replayed]), [
      [1, 'allow→needs-approval', 'allow', { decision: 'needs-approval', policies: ['long-needs-owner'], errors: [], approvers: [['owner']] }],
      [2, 'needs-approval→allow', 'needs-approval', { decision: 'allow', policies: ['owner-may-grant'], errors: [] }],
    ]);
    assert.deepEqual([report.unchanged, report.to_approval, report.from_approval, report.allow_to_deny, report.deny_to_allow], [3, 1, 1, 0, 0]);
    assert.deepEqual(report.by_policy, [
      { policy: 'long-needs-owner', allow_to_deny: 0, deny_to_allow: 0, to_approval: 1, from_approval: 0 },
      { policy: 'owner-may-grant', allow_to_deny: 0, deny_to_allow: 0, to_approval: 0, from_approval: 1 },
    ]);
  });
});
