// A refused policy set names each problem at its file, line and column: real broken
// policies against the real schema, each position asserted exactly.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { PolicySet, splitPolicies, type PolicySource } from './policy-set.ts';
import { PolicyInvalidError, charIndexOfByte, formatProblem, lineColumn } from './problems.ts';

const SCHEMA = readFileSync(new URL('../../policies/schema.cedarschema', import.meta.url), 'utf8');
const DEFAULTS: PolicySource[] = ['delegation.cedar', 'gateway.cedar'].map((origin) => ({ origin, text: readFileSync(new URL(`../../policies/default/${origin}`, import.meta.url), 'utf8') }));

/** The problems of a candidate set, as `file:line:column: message` lines. */
function problems(sources: PolicySource[]): string[] {
  const checked = PolicySet.check(sources, SCHEMA);
  assert.equal(checked.ok, false, 'the set should be refused');
  return checked.ok ? [] : checked.problems.map((p) => `${p.file}:${p.line}:${p.column}: ${p.message}`);
}

const TOOL_CALL = 'permit (principal is Agent, action == Action::"tools/call", resource is Tool)';

describe('policy problems at file:line:column', () => {
  it('a syntax error, at the token in the file (after a comment with non-ASCII text)', () => {
    const text = '// Café policies — “quoted”\n\n@id("ok")\npermit (principal, action, resource);\n\n@id("broken")\n' + `${TOOL_CALL}\nwhen { context.call == };\n`;
    assert.deepEqual(problems([{ origin: 'syntax.cedar', text }]), ['syntax.cedar:8:24: unexpected token `}`']);
  });

  it('an unknown attribute, at the attribute access, with Cedar\'s suggestion', () => {
    const text = `@id("first")\n${TOOL_CALL};\n\n   @id("typo")\n   ${TOOL_CALL}\n   when { context.scoop.contains(context.call) };\n`;
    const checked = PolicySet.check([{ origin: 'typo.cedar', text }], SCHEMA);
    assert.ok(!checked.ok);
    assert.equal(checked.problems.length, 1);
    const [problem] = checked.problems;
    assert.deepEqual({ ...problem }, {
      file: 'typo.cedar', line: 6, column: 11, endLine: 6, endColumn: 47, policy: 'typo', severity: 'error',
      message: 'for policy `typo`, attribute `scoop` in context for Action::"tools/call" not found', help: 'did you mean `scope`?',
    });
    assert.equal(formatProblem(problem!), 'typo.cedar:6:11: for policy `typo`, attribute `scoop` in context for Action::"tools/call" not found (did you mean `scope`?)');
  });

  it('a wrong type, at the comparison', () => {
    const text = `@id("wrong-type")\n${TOOL_CALL}\nwhen { resource.first_seen == "yesterday" };\n`;
    assert.deepEqual(problems([{ origin: 'types.cedar', text }]), ['types.cedar:3:8: the types Long and String are not compatible']);
  });

  it('an unknown entity type and an unknown action, each at its name', () => {
    const text = '@id("robot")\npermit (principal is Robot, action, resource);\n@id("no-action")\npermit (principal, action == Action::"tools/run", resource);\n';
    assert.deepEqual(problems([{ origin: 'names.cedar', text }]), [
      'names.cedar:2:22: for policy `robot`, unrecognized entity type `Robot`',
      'names.cedar:4:30: for policy `no-action`, unrecognized action `Action::"tools/run"`',
    ]);
  });

  it('a duplicate id, at the second @id, naming where the first is', () => {
    const extra = { origin: 'extra.cedar', text: '// A second policy that reuses a default id.\n\n  @id("owner-may-grant")\npermit (principal, action == Action::"mandate/grant", resource);\n' };
    assert.deepEqual(problems([...DEFAULTS, extra]), ['extra.cedar:3:3: policy id "owner-may-grant" is already used by the policy at delegation.cedar:5:1']);
  });

  it('a @mode that is neither enforce nor shadow, at the annotation', () => {
    const text = `@id("m")\n@mode("audit")\n${TOOL_CALL};\n`;
    assert.deepEqual(problems([{ origin: 'mode.cedar', text }]), ['mode.cedar:2:1: @mode must be "enforce" or "shadow", not "audit"']);
  });

  it('@approval: an unknown approver or a bad group name at the entry, a permit or no approver at the annotation', () => {
    const forbid = 'forbid (principal is Agent, action == Action::"tools/call", resource is Tool)';
    const text = [
      `@id("boss")\n@approval("owner, boss")\n${forbid};`,
      `@id("group")\n  @approval("initiator,group:Sec Ops")\n${forbid};`,
      `@id("permit")\n@approval("owner")\n${TOOL_CALL};`,
      `@id("none")\n@approval(" ")\n${forbid};`,
      `@id("hole")\n@approval("owner,,sponsor")\n${forbid};`,
    ].join('\n');
    assert.deepEqual(problems([{ origin: 'approval.cedar', text }]), [
      'approval.cedar:2:19: unknown approver "boss" in @approval: write owner, sponsor, initiator or group:<name>',
      'approval.cedar:5:24: group name "Sec Ops" in @approval is not valid: lower-case letters, digits, ".", "_" and "-", starting with a letter or digit, at most 64',
      'approval.cedar:8:1: @approval belongs on a forbid: it names who may approve what the forbid stops, and a permit stops nothing',
      'approval.cedar:11:1: @approval names no approver: write one or more of owner, sponsor, initiator or group:<name>, separated by commas',
      'approval.cedar:14:1: @approval has an empty entry: write owner, sponsor, initiator or group:<name>, separated by commas',
    ]);
  });

  it('@approval: alternatives read in order, spaces and repeats dropped, shadow mode allowed; other policies have none', () => {
    const text = `@id("a")\n@mode("shadow")\n@approval(" owner ,group:sec-ops.eu, owner")\nforbid (principal, action == Action::"tools/call", resource);\n@id("b")\n${TOOL_CALL};\n`;
    const set = PolicySet.load([{ origin: 'ok.cedar', text }], SCHEMA);
    assert.deepEqual(set.policies.map((p) => [p.id, p.mode, p.approval]), [['a', 'shadow', ['owner', 'group:sec-ops.eu']], ['b', 'enforce', null]]);
  });

  it('every problem of every file at once, in file order', () => {
    const a = { origin: 'a.cedar', text: 'permit (principal, action, resource) when { 1 + };\n' };
    const b = { origin: 'b.cedar', text: `${TOOL_CALL}\nwhen { principal.nickname == "x" };\n${TOOL_CALL}\nwhen { resource.name == 1 };\n` };
    assert.deepEqual(problems([b, a]), [
      'a.cedar:1:49: unexpected token `}`',
      'b.cedar:2:8: for policy `b.cedar#0`, attribute `nickname` on entity type `Agent` not found',
      'b.cedar:4:8: the types Long and String are not compatible',
    ]);
  });

  it('the same policy text twice in a file: each at its own place', () => {
    const same = `${TOOL_CALL}\nwhen { resource.name == 1 };\n`;
    assert.deepEqual(problems([{ origin: 'twice.cedar', text: `${same}\n${same}` }]), [
      'twice.cedar:2:8: the types Long and String are not compatible',
      'twice.cedar:5:8: the types Long and String are not compatible',
    ]);
  });

  it('a policy template, which is not supported', () => {
    assert.deepEqual(problems([{ origin: 't.cedar', text: '\npermit (principal == ?principal, action, resource);\n' }]), ['t.cedar:2:1: policy templates are not supported yet']);
  });

  it('a broken schema, in the schema', () => {
    const checked = PolicySet.check(DEFAULTS, { origin: 'my.cedarschema', text: 'entity Person {\n  status: Strin,\n};\n' });
    assert.ok(!checked.ok);
    assert.deepEqual(checked.problems.map((p) => `${p.file}:${p.line}:${p.column}`), ['my.cedarschema:2:11']);
  });

  it('warnings do not refuse a set, and carry positions too', () => {
    const checked = PolicySet.check([...DEFAULTS, { origin: 'w.cedar', text: '\n@id("never")\nforbid (principal is Person, action == Action::"tools/call", resource);\n' }], SCHEMA);
    assert.ok(checked.ok);
    assert.deepEqual(checked.warnings.map((w) => `${formatProblem(w)}`), [
      'w.cedar:2:1: warning: for policy `never`, unable to find an applicable action given the policy scope constraints',
      'w.cedar:2:1: warning: for policy `never`, policy is impossible: the policy expression evaluates to false for all valid requests',
    ]);
  });

  it('a valid set: each policy knows where it starts', () => {
    const set = PolicySet.load(DEFAULTS, SCHEMA);
    const placed = set.policies.filter((p) => ['owner-may-grant', 'agent-may-delegate-to-a-sibling', 'mandate-names-tool'].includes(p.id));
    assert.deepEqual(placed.map((p) => [p.id, p.origin, p.line, p.column]), [
      ['owner-may-grant', 'delegation.cedar', 5, 1], ['agent-may-delegate-to-a-sibling', 'delegation.cedar', 18, 1], ['mandate-names-tool', 'gateway.cedar', 7, 1],
    ]);
  });

  it('load and splitPolicies throw a PolicyInvalidError whose message names the positions', () => {
    const broken = [{ origin: 'x.cedar', text: `${TOOL_CALL}\nwhen { context.nope };\n` }];
    assert.throws(() => PolicySet.load(broken, SCHEMA), (error: unknown) => {
      assert.ok(error instanceof PolicyInvalidError);
      assert.equal(error.code, 'policy_invalid');
      assert.equal(error.status, 422);
      assert.match(error.message, /^the policy set is invalid: x\.cedar:2:8: for policy `x\.cedar#0`, attribute `nope` in context/);
      return true;
    });
    assert.throws(() => splitPolicies([{ origin: 'y.cedar', text: 'permit (principal, action, resource' }]), /the policies is invalid: y\.cedar:1:36: unexpected end of input/);
  });
});

describe('positions', () => {
  it('maps UTF-8 byte offsets to characters, and characters to line and column', () => {
    const text = 'ab\né😀x\ny';
    assert.equal(charIndexOfByte(text, 3), 3); // after "ab\n"
    assert.equal(charIndexOfByte(text, 5), 4); // after "é" (2 bytes)
    assert.equal(charIndexOfByte(text, 9), 6); // after "😀" (4 bytes, 2 UTF-16 units)
    assert.deepEqual(lineColumn(text, 6), { line: 2, column: 3 }); // "x": the emoji counts as one column
    assert.deepEqual(lineColumn(text, text.length - 1), { line: 3, column: 1 });
  });
});
