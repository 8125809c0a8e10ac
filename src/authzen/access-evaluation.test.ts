// AuthZEN requests as Cedar sees them, against a policy set of our own (not validated
// against Mandate's schema, so it can use every kind of value): properties become
// attributes of each kind, hierarchy and entity references work, what Cedar cannot
// represent denies that evaluation with the path of the value, and the three
// evaluations semantics stop where the specification says.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PolicyEngine } from '../policy/engine.ts';
import { PolicySet, splitPolicies } from '../policy/policy-set.ts';
import { evaluate, evaluateAll, type Evaluation } from './access-evaluation.ts';
import { actionGroupsOf } from '../policy/action-groups.ts';
import { MAX_VALUE_DEPTH, toCedarRequest, type AccessRequest } from './cedar-request.ts';

const engine = new PolicyEngine(PolicySet.unvalidated(splitPolicies([{
  origin: 'test.cedar',
  text: `
    @id("sales-reads-in-office")
    permit (principal is user, action == Action::"read", resource is document in folder::"sales")
    when {
      principal.profile.department == "Sales" && principal.mfa && principal.level >= 3 &&
      principal.groups.contains("staff") && context.ip.isInRange(ip("10.0.0.0/8")) &&
      resource.score.greaterThan(decimal("0.5")) && resource.owner == context.owner
    };
    @id("no-locked-documents")
    forbid (principal, action, resource is document) when { resource has locked && resource.locked };
    @id("open-by-name")
    permit (principal, action == Action::"open", resource) when { resource.name like "public-*" };
  `,
}])));

const alice = { type: 'user', id: 'alice', properties: { profile: { department: 'Sales', title: null }, mfa: true, level: 4, groups: ['staff', 'sales'] } };
const report = {
  type: 'document', id: 'q3.pdf',
  properties: { score: { __extn: { fn: 'decimal', arg: '0.75' } }, owner: { __entity: { type: 'user', id: 'bob' } }, __parents: [{ type: 'folder', id: 'sales' }] },
};
const office = { ip: { __extn: { fn: 'ip', arg: '10.1.2.3' } }, owner: { __entity: { type: 'user', id: 'bob' } } };
const readReport: AccessRequest = { subject: alice, action: { name: 'read' }, resource: report, context: office };

const decided = (e: Evaluation) => ({ decision: e.answer.decision, policies: e.answer.context.policies, denial: e.denial });

describe('properties become Cedar attributes', () => {
  it('permits when records, booleans, Longs, sets, extensions, entity references and parents all line up', () => {
    assert.deepEqual(decided(evaluate(engine, readReport)), { decision: true, policies: ['sales-reads-in-office'], denial: null });
  });

  it('denies as soon as one attribute does not (each one checked by changing it alone)', () => {
    const variants: AccessRequest[] = [
      { ...readReport, subject: { ...alice, properties: { ...alice.properties, mfa: false } } },
      { ...readReport, subject: { ...alice, properties: { ...alice.properties, level: 2 } } },
      { ...readReport, subject: { ...alice, properties: { ...alice.properties, groups: ['sales'] } } },
      { ...readReport, subject: { ...alice, properties: { ...alice.properties, profile: { department: 'Legal' } } } },
      { ...readReport, context: { ...office, ip: { __extn: { fn: 'ip', arg: '192.168.1.1' } } } },
      { ...readReport, context: { ...office, owner: { __entity: { type: 'user', id: 'carol' } } } },
      { ...readReport, resource: { ...report, properties: { ...report.properties, __parents: [{ type: 'folder', id: 'legal' }] } } },
      { ...readReport, resource: { ...report, properties: { ...report.properties, score: { __extn: { fn: 'decimal', arg: '0.25' } } } } },
    ];
    for (const variant of variants) assert.deepEqual(decided(evaluate(engine, variant)), { decision: false, policies: [], denial: 'no_policy_permits' }, JSON.stringify(variant));
  });

  it('names the forbid that decided a denial', () => {
    const locked = { ...readReport, resource: { ...report, properties: { ...report.properties, locked: true } } };
    const evaluation = evaluate(engine, locked);
    assert.deepEqual(decided(evaluation), { decision: false, policies: ['no-locked-documents'], denial: 'forbidden_by_policy' });
    assert.equal(evaluation.answer.context.reason_admin.en, 'forbidden by no-locked-documents');
  });

  it('answers a request that needs approval with false, saying so and naming the approvers', () => {
    const approvals = new PolicyEngine(PolicySet.unvalidated(splitPolicies([{ origin: 'a.cedar', text: `
      @id("open-by-name") permit (principal, action == Action::"open", resource);
      @id("big-needs-approval") @approval("owner, group:security")
      forbid (principal, action == Action::"open", resource) when { resource has size && resource.size > 10 };
    ` }])));
    const open = (size: number): AccessRequest => ({ subject: alice, action: { name: 'open' }, resource: { type: 'document', id: 'x', properties: { size } } });
    const evaluation = evaluate(approvals, open(50));
    assert.deepEqual(decided(evaluation), { decision: false, policies: ['big-needs-approval'], denial: 'approval_required' });
    assert.deepEqual(evaluation.answer.context.approval, { policies: ['big-needs-approval'], approvers: [['owner', 'group:security']] });
    assert.equal(evaluation.answer.context.reason_admin.en, 'denied until approved: needs approval by owner or group:security (asked by big-needs-approval)');
    assert.deepEqual(decided(evaluate(approvals, open(5))), { decision: true, policies: ['open-by-name'], denial: null });
    assert.equal(evaluate(approvals, open(5)).answer.context.approval, undefined);
  });

  it('accepts parents in Cedar\'s own escaped form too, and leaves null members out', () => {
    const request = toCedarRequest({ ...readReport, resource: { ...report, properties: { ...report.properties, __parents: [{ __entity: { type: 'folder', id: 'sales' } }], note: null } } });
    const resource = request.entities.find((e) => e.uid.type === 'document');
    assert.deepEqual(resource?.parents, [{ type: 'folder', id: 'sales' }]);
    assert.equal(Object.hasOwn(resource?.attrs ?? {}, 'note'), false);
    assert.deepEqual(request.entities.find((e) => e.uid.type === 'user')?.attrs.profile, { department: 'Sales' });
    assert.deepEqual(request.action, 'read');
  });

  it('takes the subject and the resource as one entity when they are the same one', () => {
    const self = { type: 'user', id: 'alice' };
    assert.deepEqual(toCedarRequest({ subject: alice, action: { name: 'read' }, resource: self }).entities.map((e) => e.uid), [{ type: 'user', id: 'alice' }, { type: 'Action', id: 'read' }]);
    assert.equal(toCedarRequest({ subject: self, action: { name: 'read' }, resource: alice }).entities[0]?.attrs.mfa, true);
    const contradiction = evaluate(engine, { subject: alice, action: { name: 'read' }, resource: { ...self, properties: { mfa: false } } });
    assert.equal(contradiction.denial, 'invalid_evaluation');
    assert.match(String(contradiction.answer.context.error?.message), /same entity \(user::"alice"\)/);
  });
});

describe('actions', () => {
  it('are placed in the groups the schema declares, transitively, so `action in` policies apply', () => {
    const groups = actionGroupsOf(`
      entity user; entity document;
      action "everything";
      action "reading" in ["everything"];
      action "read" in ["reading"] appliesTo { principal: [user], resource: [document] };
    `);
    assert.deepEqual([...groups].sort(), [['everything', []], ['read', ['reading']], ['reading', ['everything']]]);
    const grouped = new PolicyEngine(PolicySet.unvalidated(splitPolicies([{ origin: 'groups.cedar', text: '@id("readers") permit (principal, action in Action::"everything", resource);' }])));
    const request: AccessRequest = { subject: { type: 'user', id: 'u' }, action: { name: 'read' }, resource: { type: 'document', id: 'd' } };
    assert.deepEqual(decided(evaluate(grouped, request, groups)), { decision: true, policies: ['readers'], denial: null });
    assert.deepEqual(decided(evaluate(grouped, request)), { decision: false, policies: [], denial: 'no_policy_permits' }, 'without the schema\'s groups the action is in none');
    assert.deepEqual(toCedarRequest(request, groups).entities.filter((e) => e.uid.type === 'Action').map((e) => [e.uid.id, e.parents.map((p) => p.id)]), [['read', ['reading']], ['reading', ['everything']], ['everything', []]]);
  });

  it('cannot be posed as a subject or resource (that could rewrite the groups)', () => {
    const evaluation = evaluate(engine, { subject: alice, action: { name: 'read' }, resource: { type: 'Action', id: 'read', properties: { __parents: [{ type: 'Action', id: 'admin' }] } } });
    assert.equal(evaluation.denial, 'invalid_evaluation');
    assert.match(String(evaluation.answer.context.error?.message), /^resource\.type: Action is the type of actions/);
  });
});

describe('what Cedar cannot represent denies that evaluation, naming the value', () => {
  const refused = (request: AccessRequest, pattern: RegExp): void => {
    const evaluation = evaluate(engine, request);
    assert.equal(evaluation.answer.decision, false);
    assert.equal(evaluation.denial, 'invalid_evaluation');
    assert.equal(evaluation.answer.context.error?.status, 400);
    assert.match(String(evaluation.answer.context.error?.message), pattern);
    assert.equal(evaluation.answer.context.policy_set_hash, engine.hash);
  };
  const withSubject = (properties: Record<string, unknown>): AccessRequest => ({ ...readReport, subject: { ...alice, properties } });

  it('refuses numbers that are not whole (Cedar has only Long), and whole numbers past 2^53', () => {
    refused(withSubject({ level: 3.5 }), /^subject\.properties\.level: 3\.5 is not a whole number.*decimal/);
    refused(withSubject({ level: 2 ** 60 }), /subject\.properties\.level: .* is not a whole number/);
    refused({ ...readReport, context: { ratio: [1, 0.5] } }, /^context\.ratio\[1\]: 0\.5/);
  });

  it('refuses null inside a set, reserved names, and malformed escapes', () => {
    refused(withSubject({ groups: ['staff', null] }), /^subject\.properties\.groups\[1\]: null has no Cedar value/);
    refused(withSubject({ expr: { __expr: '1 + 1' } }), /^subject\.properties\.expr\.__expr: names starting with "__" are reserved/);
    refused(withSubject({ owner: { __entity: { type: 'user', id: 'bob' }, extra: 1 } }), /owner\.__entity: names starting with "__" are reserved/);
    refused(withSubject({ owner: { __entity: { type: 'user' } } }), /^subject\.properties\.owner\.__entity: an entity reference is/);
    refused(withSubject({ at: { __extn: { fn: 'eval', arg: 'x' } } }), /^subject\.properties\.at\.__extn\.fn: "eval" is not one of Cedar's extension functions/);
    refused({ ...readReport, resource: { ...report, properties: { __parents: 'folder::"sales"' } } }, /^resource\.properties\.__parents: parents are an array/);
  });

  it('refuses entity types Cedar cannot name, and action properties (Cedar actions have no attributes)', () => {
    refused({ ...readReport, subject: { type: 'todo-user', id: 'alice' } }, /^subject\.type: "todo-user" is not a Cedar entity type name/);
    refused({ ...readReport, resource: { type: 'if', id: '1' } }, /^resource\.type: "if" is not a Cedar entity type name/);
    refused({ ...readReport, action: { name: 'read', properties: { method: 'GET' } } }, /^action\.properties\.method: Cedar actions have no attributes/);
    assert.equal(evaluate(engine, { ...readReport, action: { name: 'read', properties: {} } }).answer.decision, true);
  });

  it('refuses values nested deeper than the limit without exhausting the stack', () => {
    let deep: unknown = 'bottom';
    for (let i = 0; i < 10_000; i++) deep = [deep];
    refused(withSubject({ deep }), new RegExp(`nest deeper than ${MAX_VALUE_DEPTH} levels`));
  });

  it('denies, with the errors as reasons, when a policy cannot be evaluated (fail closed)', () => {
    // no-locked-documents reads resource.locked only when present; this request makes open-by-name read a missing name.
    const evaluation = evaluate(engine, { subject: alice, action: { name: 'open' }, resource: { type: 'thing', id: '1' } });
    assert.equal(evaluation.answer.decision, false);
    assert.equal(evaluation.denial, 'decision_failed');
    assert.match(String(evaluation.answer.context.errors?.[0]), /^open-by-name: /);
    assert.match(evaluation.answer.context.reason_admin.en, /could not be evaluated/);
  });

  it('denies, saying so, when the decision point itself fails', () => {
    const failing = { hash: 'sha256:failing', decide: () => { throw new Error('out of memory'); } } as unknown as PolicyEngine;
    const evaluation = evaluate(failing, readReport);
    assert.deepEqual(decided(evaluation), { decision: false, policies: [], denial: 'decision_failed' });
    assert.deepEqual(evaluation.answer.context.errors, ['the decision point failed: out of memory']);
  });
});

describe('evaluations semantics', () => {
  const allowed = readReport;
  const denied: AccessRequest = { ...readReport, resource: { ...report, properties: { ...report.properties, locked: true } } };
  const answers = (evaluations: Evaluation[]) => evaluations.map((e) => [e.answer.decision, e.answer.context.reason ?? null]);

  it('execute_all answers every evaluation, in order', () => {
    assert.deepEqual(answers(evaluateAll(engine, [allowed, denied, allowed], 'execute_all')), [[true, null], [false, null], [true, null]]);
  });

  it('deny_on_first_deny ends with the first denial and leaves the rest unasked', () => {
    assert.deepEqual(answers(evaluateAll(engine, [allowed, denied, allowed], 'deny_on_first_deny')), [[true, null], [false, 'deny_on_first_deny']]);
    assert.deepEqual(answers(evaluateAll(engine, [allowed, allowed], 'deny_on_first_deny')), [[true, null], [true, null]]);
    // A request that cannot be evaluated is a denial too.
    const broken: AccessRequest = { ...allowed, subject: { type: 'bad type', id: 'x' } };
    assert.deepEqual(answers(evaluateAll(engine, [broken, allowed], 'deny_on_first_deny')), [[false, 'deny_on_first_deny']]);
  });

  it('permit_on_first_permit ends with the first permit', () => {
    assert.deepEqual(answers(evaluateAll(engine, [denied, allowed, denied], 'permit_on_first_permit')), [[false, null], [true, 'permit_on_first_permit']]);
    assert.deepEqual(answers(evaluateAll(engine, [denied, denied], 'permit_on_first_permit')), [[false, null], [false, null]]);
    assert.deepEqual(answers(evaluateAll(engine, [denied, allowed], 'permit_on_first_permit')), [[false, null], [true, null]], 'nothing was left unasked');
  });
});
