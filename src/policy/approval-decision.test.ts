// The decision with approvals: a deny only approval policies made, that the rest of
// the set would allow, needs approval; anything else is decided as the set decides it.
// The lifted engine (the set without its approval policies) must answer as plain
// Cedar over that smaller set, and needs-approval must be exactly what plain Cedar
// over both sets implies.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { prng } from '../lib/prng.ts';
import { decideWithApprovals, isApprovalPolicy, liftedEngine } from './approval-decision.ts';
import { readAnswer } from './decision-point.ts';
import { PolicyEngine, splitPolicies, type AuthorizationRequest, type EntityRecord } from './engine.ts';
import { PolicySet } from './policy-set.ts';

const engineOf = (text: string): PolicyEngine => new PolicyEngine(PolicySet.unvalidated(splitPolicies([{ origin: 'set.cedar', text }])));

const ALLOW_ALL = '@id("allow")\npermit (principal, action, resource);\n';
const TO_OWNER = '@id("to-owner")\n@approval("owner")\nforbid (principal, action, resource) when { context.amount > 100 };\n';
const TO_SECURITY = '@id("security")\n@approval("group:security, initiator")\nforbid (principal, action, resource) when { context.amount > 1000 };\n';
const NEVER_NIGHT = '@id("never-at-night")\nforbid (principal, action, resource) when { context.night };\n';

const ask = (context: AuthorizationRequest['context']): AuthorizationRequest => ({
  principal: { type: 'Agent', id: 'bot' }, action: 'pay', resource: { type: 'Tool', id: 'payments/transfer' }, context: { amount: 5, night: false, ...context }, entities: [],
});

describe('decideWithApprovals', () => {
  const engine = engineOf(ALLOW_ALL + TO_OWNER + TO_SECURITY + NEVER_NIGHT);

  it('needs approval when only approval policies deny: one list of approvers per policy, in policy-id order', () => {
    const one = decideWithApprovals(engine, ask({ amount: 500 }));
    assert.deepEqual([one.decision, one.policies, one.needsApproval], ['deny', ['to-owner'], { policies: ['to-owner'], approvers: [['owner']] }]);
    const both = decideWithApprovals(engine, ask({ amount: 5000 }));
    assert.deepEqual(both.needsApproval, { policies: ['security', 'to-owner'], approvers: [['group:security', 'initiator'], ['owner']] });
    assert.equal(both.decision, 'deny', 'until the approval is held, it is a deny');
  });

  it('is a plain deny when a policy without @approval forbids too', () => {
    const answer = decideWithApprovals(engine, ask({ amount: 500, night: true }));
    assert.deepEqual([answer.decision, answer.policies, answer.needsApproval], ['deny', ['never-at-night', 'to-owner'], undefined]);
  });

  it('is a plain deny when anything fails to evaluate (fail closed)', () => {
    const failing = engineOf(ALLOW_ALL + TO_OWNER + '@id("broken")\nforbid (principal, action, resource) when { context.missing == 1 };\n');
    const answer = decideWithApprovals(failing, ask({ amount: 500 }));
    assert.equal(answer.decision, 'deny');
    assert.equal(answer.needsApproval, undefined);
    assert.match(answer.errors.join(), /^broken: /);
    const approvalFails = engineOf(ALLOW_ALL + '@id("to-owner")\n@approval("owner")\nforbid (principal, action, resource) when { context.amount > 100 || context.missing };\n');
    const failed = decideWithApprovals(approvalFails, ask({ amount: 5 }));
    assert.deepEqual([failed.decision, failed.needsApproval, failed.errors.length], ['deny', undefined, 1]);
  });

  it('is a plain deny when nothing permits, approval or not', () => {
    const unpermitted = engineOf('@id("small")\npermit (principal, action, resource) when { context.amount < 10 };\n' + TO_OWNER);
    const answer = decideWithApprovals(unpermitted, ask({ amount: 500 }));
    assert.deepEqual([answer.decision, answer.policies, answer.needsApproval], ['deny', ['to-owner'], undefined]);
    assert.deepEqual(decideWithApprovals(unpermitted, ask({ amount: 20 })).needsApproval, undefined, 'no permit, no approval policy: a default deny');
  });

  it('leaves an allow, and a set without approval policies, as they are', () => {
    assert.deepEqual(decideWithApprovals(engine, ask({ amount: 5 })), engine.decide(ask({ amount: 5 })));
    const plain = engineOf(ALLOW_ALL + NEVER_NIGHT);
    assert.equal(decideWithApprovals(plain, ask({ night: true })), plain.decide(ask({ night: true })));
  });

  it('reports what a shadow approval policy would ask, and never enforces it', () => {
    const trial = engineOf(ALLOW_ALL + '@id("trial")\n@mode("shadow")\n@approval("sponsor")\nforbid (principal, action, resource) when { context.amount > 100 };\n');
    const answer = decideWithApprovals(trial, ask({ amount: 500 }));
    assert.deepEqual([answer.decision, answer.policies, answer.needsApproval], ['allow', ['allow'], undefined]);
    assert.deepEqual(answer.shadow, { decision: 'deny', policies: ['trial'], errors: [], needsApproval: { policies: ['trial'], approvers: [['sponsor']] } });
    const alsoForbidden = engineOf(ALLOW_ALL + NEVER_NIGHT.replace('forbid', '@mode("shadow")\nforbid') + '@id("trial")\n@mode("shadow")\n@approval("sponsor")\nforbid (principal, action, resource) when { context.amount > 100 };\n');
    assert.deepEqual(decideWithApprovals(alsoForbidden, ask({ amount: 500, night: true })).shadow, { decision: 'deny', policies: ['never-at-night', 'trial'], errors: [] });
  });
});

describe('liftedEngine', () => {
  const engine = engineOf(ALLOW_ALL + TO_OWNER + TO_SECURITY + NEVER_NIGHT + '@id("needs-someone")\nforbid (principal, action, resource) when { context.amount > 100 && context.approvals.isEmpty() };\n');

  it('is the set without its approval policies, worked out once, under the whole set\'s hash', () => {
    const lifted = liftedEngine(engine);
    assert.deepEqual(lifted.policies.map((p) => p.id), ['allow', 'never-at-night', 'needs-someone']);
    assert.equal(liftedEngine(engine), lifted);
    assert.equal(lifted.hash, engine.hash);
    const plain = engineOf(ALLOW_ALL);
    assert.equal(liftedEngine(plain), plain);
  });

  it('allows what needed approval once it is held, and still applies every other policy', () => {
    const approved = (context: AuthorizationRequest['context']) => liftedEngine(engine).decide(ask({ approvals: [{ __entity: { type: 'Person', id: 'alice' } }], ...context }));
    assert.deepEqual([approved({ amount: 5000 }).decision, approved({ amount: 5000 }).policies], ['allow', ['allow']]);
    assert.deepEqual(approved({ amount: 5000, night: true }).policies, ['never-at-night']);
    assert.equal(liftedEngine(engine).decide(ask({ amount: 5000, approvals: [] })).decision, 'deny', 'a policy reading context.approvals sees who approved');
  });
});

// ---- the differential: plain Cedar over the set, and over the set without its approval policies ----

const USERS = 4;
const DOCS = 4;
const ref = (type: string, id: string) => ({ type, id });

function generated(g: ReturnType<typeof gen>): string {
  const conditions = [
    () => `context.n > ${g.int(6)}`, () => 'context.flag', () => `principal.level >= ${g.int(4)}`, () => 'resource.owner == principal',
    () => 'resource has public && resource.public', () => `principal in Group::"g${g.int(2)}"`,
    () => 'principal.clearance == "top"', () => 'context.n * 4611686018427387904 > 0', () => 'context.label like "a*"',
  ];
  const approvers = ['owner', 'sponsor', 'initiator', 'group:security', 'owner, group:ops'];
  const policies: string[] = [];
  for (let i = 0, count = 1 + g.int(10); i < count; i++) {
    const forbid = g.chance(0.55);
    const approval = forbid && g.chance(0.6) ? `@approval("${g.pick(approvers)}")\n` : '';
    const mode = g.chance(0.08) ? '@mode("shadow")\n' : '';
    const scope = g.pick(['principal, action, resource', `principal == User::"u${g.int(USERS)}", action, resource`, `principal, action, resource == Doc::"d${g.int(DOCS)}"`]);
    const when = Array.from({ length: g.int(3) }, () => `${g.chance(0.8) ? 'when' : 'unless'} { ${g.pick(conditions)()} }`).join(' ');
    policies.push(`@id("p${i}")\n${approval}${mode}${forbid ? 'forbid' : 'permit'} (${scope}) ${when};`);
  }
  return policies.join('\n');
}

function gen(seed: number) {
  const next = prng(seed);
  return {
    int: (n: number) => Math.floor(next() * n),
    chance: (p: number) => next() < p,
    pick: <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T,
  };
}

function world(g: ReturnType<typeof gen>): EntityRecord[] {
  const out: EntityRecord[] = [];
  for (let i = 0; i < USERS; i++) {
    const attrs: EntityRecord['attrs'] = {};
    if (g.chance(0.8)) attrs.level = g.int(5);
    if (g.chance(0.3)) attrs.clearance = g.pick(['top', 'low']);
    out.push({ uid: ref('User', `u${i}`), attrs, parents: g.chance(0.5) ? [ref('Group', `g${g.int(2)}`)] : [] });
  }
  for (let i = 0; i < DOCS; i++) {
    const attrs: EntityRecord['attrs'] = { owner: { __entity: ref('User', `u${g.int(USERS)}`) } };
    if (g.chance(0.7)) attrs.public = g.chance(0.5);
    out.push({ uid: ref('Doc', `d${i}`), attrs, parents: [] });
  }
  return out;
}

/** Plain Cedar over some policies (by id), read as Mandate reads every answer: an error denies. */
function cedarOver(policies: ReturnType<typeof splitPolicies>, req: AuthorizationRequest) {
  const answer = readAnswer(cedar.isAuthorized({
    principal: req.principal, action: { type: 'Action', id: req.action }, resource: req.resource, context: req.context,
    entities: req.entities as cedar.Entities, policies: { staticPolicies: Object.fromEntries(policies.map((p) => [p.id, p.text])) },
  }));
  return { decision: answer.errors.length > 0 ? 'deny' : answer.decision, reasons: answer.reasons, errors: answer.errors.length };
}

describe('the lifted engine and needs-approval, against plain Cedar', () => {
  it('on 3,000 generated requests over 150 generated sets with approval policies', () => {
    const seen = { needsApproval: 0, allow: 0, deny: 0, errors: 0, lifted: 0 };
    for (let s = 0; s < 150; s++) {
      const g = gen(7000 + s);
      const text = generated(g);
      const policies = splitPolicies([{ origin: `set-${s}.cedar`, text }]);
      const engine = new PolicyEngine(PolicySet.unvalidated(policies));
      const enforced = policies.filter((p) => p.mode === 'enforce');
      const liftedPolicies = enforced.filter((p) => !isApprovalPolicy(p));
      const approvalIds = new Set(policies.filter(isApprovalPolicy).map((p) => p.id));
      const store = world(g);
      for (let r = 0; r < 20; r++) {
        const context: AuthorizationRequest['context'] = { n: g.int(8), flag: g.chance(0.5) };
        if (g.chance(0.7)) context.label = g.pick(['abc', 'bcd']);
        const req: AuthorizationRequest = { principal: ref('User', `u${g.int(USERS + 1)}`), action: 'act', resource: ref('Doc', `d${g.int(DOCS + 1)}`), context, entities: store };
        const where = `seed ${7000 + s}, request ${r}: ${JSON.stringify(context)} ${JSON.stringify(req.principal)} ${JSON.stringify(req.resource)}\n${text}`;
        const lifted = liftedEngine(engine).decide(req);
        const expectedLifted = cedarOver(liftedPolicies, req);
        assert.deepEqual({ decision: lifted.decision, errors: lifted.errors.length }, { decision: expectedLifted.decision, errors: expectedLifted.errors }, where);
        if (expectedLifted.errors === 0) assert.deepEqual(lifted.policies, expectedLifted.reasons, where);
        const whole = cedarOver(enforced, req);
        const answer = decideWithApprovals(engine, req);
        const needed = whole.decision === 'deny' && whole.errors === 0 && whole.reasons.length > 0 && whole.reasons.every((id) => approvalIds.has(id))
          && expectedLifted.decision === 'allow' && expectedLifted.errors === 0;
        assert.equal(answer.needsApproval !== undefined, needed, where);
        assert.equal(answer.decision, whole.decision, where);
        if (answer.needsApproval) {
          assert.deepEqual(answer.needsApproval.policies, [...whole.reasons].sort(), where);
          assert.deepEqual(answer.needsApproval.approvers, answer.needsApproval.policies.map((id) => policies.find((p) => p.id === id)?.approval), where);
          seen.needsApproval++;
        } else seen[whole.errors > 0 ? 'errors' : whole.decision]++;
        if (lifted.decision !== engine.decide(req).decision) seen.lifted++;
      }
    }
    console.log(`compared: ${JSON.stringify(seen)}`);
    // Every outcome must be exercised, or the comparison proves little.
    assert.ok(seen.needsApproval > 150 && seen.allow > 300 && seen.deny > 300 && seen.errors > 50 && seen.lifted > 150, JSON.stringify(seen));
  });
});
