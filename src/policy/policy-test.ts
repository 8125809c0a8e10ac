// Policy tests: requests and the decisions expected of them, like `opa test`. A test
// file is JSON (docs/policy.md, "Testing policies"):
//
//   { "entities": [shared entities], "defaults": { "<action>": { "context": {…} } },
//     "tests": [{ "name", "principal", "action", "resource", "context", "entities",
//                 "expect": "allow" | "deny" | "needs-approval", "policies"?, "approvers"?,
//                 "shadow"?, "errors"? }] }
//
// Each request is first checked against the schema (a test that does not match it
// tests nothing), then decided by the same decision point the gateway asks, with
// approvals as the gateway reads them (approval-decision.ts).
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { z } from 'zod';
import { MandateError } from '../errors.ts';
import { decideWithApprovals, type DecisionWithApprovals } from './approval-decision.ts';
import type { AuthorizationRequest, EntityRecord, EntityRef, PolicyEngine } from './engine.ts';
import type { SchemaSource } from './policy-set.ts';

const UID = /^((?:[A-Za-z_][A-Za-z0-9_]*::)*[A-Za-z_][A-Za-z0-9_]*)::"((?:[^"\\]|\\.)*)"$/;

/** `Type::"id"` (Cedar's own spelling) or `{ "type", "id" }`. */
const EntityUid = z.unknown().transform((value, ctx): EntityRef => {
  if (typeof value === 'string') {
    const match = UID.exec(value);
    if (match) return { type: match[1] as string, id: JSON.parse(`"${match[2] as string}"`) as string };
  } else if (typeof value === 'object' && value !== null && Object.keys(value).length === 2) {
    const { type, id } = value as Record<string, unknown>;
    if (typeof type === 'string' && type.length > 0 && typeof id === 'string') return { type, id };
  }
  ctx.addIssue({ code: 'custom', message: `${JSON.stringify(value)} is not an entity uid: write Type::"id" or {"type": …, "id": …}` });
  return z.NEVER;
});

const CedarValue = z.custom<cedar.CedarValueJson>(() => true);

const Entity = z.strictObject({
  uid: EntityUid,
  attrs: z.record(z.string(), CedarValue).optional(),
  parents: z.array(EntityUid).optional(),
  tags: z.record(z.string(), CedarValue).optional(),
});

const Decided = z.enum(['allow', 'deny', 'needs-approval']);
type Decided = z.output<typeof Decided>;

const TestCase = z.strictObject({
  name: z.string().min(1),
  principal: EntityUid,
  action: z.string().min(1).describe('the action id, e.g. tools/call'),
  resource: EntityUid,
  context: z.record(z.string(), CedarValue).optional(),
  entities: z.array(Entity).optional(),
  expect: Decided,
  /** The determining policies expected, exactly (any order). */
  policies: z.array(z.string()).optional(),
  /** For `needs-approval`: the approvers expected, one list per determining policy in id order, each as its `@approval` names them. */
  approvers: z.array(z.array(z.string())).optional(),
  /** The decision expected with shadow policies enforced. */
  shadow: Decided.optional(),
  /** Whether evaluation errors are expected (default: none). */
  errors: z.boolean().optional(),
});

export const PolicyTestFile = z.strictObject({
  description: z.string().optional(),
  entities: z.array(Entity).optional(),
  defaults: z.record(z.string(), z.strictObject({ context: z.record(z.string(), CedarValue).optional() })).optional(),
  tests: z.array(TestCase).min(1),
});

export type PolicyTestFile = z.output<typeof PolicyTestFile>;
type TestCase = z.output<typeof TestCase>;

export interface TestResult {
  file: string;
  /** 1-based position of the test in its file. */
  index: number;
  name: string;
  passed: boolean;
  request: { principal: string; action: string; resource: string };
  expected: { decision: Decided; policies?: string[]; approvers?: string[][]; shadow?: Decided; errors: boolean };
  /** `approvers` (and `shadow_approvers`) when the decision (the shadow decision) is needs-approval. */
  got: { decision: Decided; policies: string[]; approvers?: string[][]; errors: string[]; shadow: Decided; shadow_policies: string[]; shadow_approvers?: string[][] } | null;
  /** What did not match, one line each. */
  failures: string[];
}

export const uidText = (uid: EntityRef): string => `${uid.type}::${JSON.stringify(uid.id)}`;

/** Parses a test file's text; throws one line naming the file and the first things wrong. */
export function parseTestFile(name: string, text: string): PolicyTestFile {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new MandateError('invalid_policy_test', `${name} is not valid JSON: ${(error as Error).message}`);
  }
  const parsed = PolicyTestFile.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.slice(0, 5).map((i) => `${i.path.length > 0 ? i.path.join('.') : 'the file'}: ${i.message}`);
    throw new MandateError('invalid_policy_test', `${name} is not a policy test file: ${issues.join('; ')}`);
  }
  return parsed.data;
}

/** Each action's groups (transitively) as the schema declares them, so `action in Action::"gateway"` holds as it does in the gateway's requests. */
function actionParents(schema: SchemaSource): Map<string, EntityRef[]> {
  const parents = new Map<string, EntityRef[]>();
  const json = cedar.schemaToJson(schema.text);
  if (json.type === 'failure') throw new MandateError('schema_invalid', `the schema ${schema.origin} does not parse: ${json.errors.map((e) => e.message).join('; ')}`);
  for (const [action, definition] of Object.entries(json.json['']?.actions ?? {})) {
    parents.set(action, (definition.memberOf ?? []).filter((m) => m.type === undefined || m.type === 'Action').map((m) => ({ type: 'Action', id: m.id })));
  }
  return parents;
}

const entityRecord = (e: z.output<typeof Entity>): EntityRecord => ({ uid: e.uid, attrs: e.attrs ?? {}, parents: e.parents ?? [], ...(e.tags ? { tags: e.tags } : {}) });

function requestOf(file: PolicyTestFile, test: TestCase, actions: Map<string, EntityRef[]>): AuthorizationRequest {
  // A test's own entity replaces a shared one with the same uid.
  const entities = new Map<string, EntityRecord>();
  for (const e of [...(file.entities ?? []), ...(test.entities ?? [])]) entities.set(uidText(e.uid), entityRecord(e));
  // The action and its groups, unless the test brings its own.
  const pending = [test.action];
  while (pending.length > 0) {
    const action = pending.pop() as string;
    const key = uidText({ type: 'Action', id: action });
    if (entities.has(key) || !actions.has(action)) continue;
    const parents = actions.get(action) as EntityRef[];
    entities.set(key, { uid: { type: 'Action', id: action }, attrs: {}, parents });
    pending.push(...parents.map((p) => p.id));
  }
  return {
    principal: test.principal,
    action: test.action,
    resource: test.resource,
    context: { ...file.defaults?.[test.action]?.context, ...test.context },
    entities: [...entities.values()],
  };
}

/** Why a request does not match the schema, or null when it does (principal and resource types, context, entities). */
function schemaMismatch(request: AuthorizationRequest, schema: SchemaSource): string | null {
  const answer = cedar.isAuthorized({
    principal: request.principal, action: { type: 'Action', id: request.action }, resource: request.resource, context: request.context,
    entities: request.entities as cedar.Entities, schema: schema.text, validateRequest: true, policies: { staticPolicies: {} },
  });
  return answer.type === 'failure' ? answer.errors.map((e) => e.message).join('; ') : null;
}

const sameSet = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && [...a].sort().every((x, i) => x === [...b].sort()[i]);
const listed = (ids: readonly string[]): string => (ids.length > 0 ? ids.join(', ') : 'no policy');
/** Approvers as a test file writes them, read out: `owner or group:security; initiator`. */
export const approversText = (lists: readonly (readonly string[])[]): string => lists.map((list) => list.join(' or ')).join('; ');
const decided = (d: { decision: 'allow' | 'deny'; needsApproval?: unknown }): Decided => (d.needsApproval ? 'needs-approval' : d.decision);

/** Runs every test of a file against an engine. */
export function runTests(fileName: string, file: PolicyTestFile, engine: PolicyEngine, schema: SchemaSource): TestResult[] {
  const actions = actionParents(schema);
  return file.tests.map((test, i) => {
    const request = requestOf(file, test, actions);
    const expected = { decision: test.expect, ...(test.policies ? { policies: test.policies } : {}), ...(test.approvers ? { approvers: test.approvers } : {}), ...(test.shadow ? { shadow: test.shadow } : {}), errors: test.errors ?? false };
    const base = { file: fileName, index: i + 1, name: test.name, expected, request: { principal: uidText(test.principal), action: test.action, resource: uidText(test.resource) } };
    if (!actions.has(test.action)) return { ...base, passed: false, got: null, failures: [`the schema has no action "${test.action}"`] };
    const mismatch = schemaMismatch(request, schema);
    if (mismatch) return { ...base, passed: false, got: null, failures: [`the request does not match the schema: ${mismatch}`] };
    const decision: DecisionWithApprovals = decideWithApprovals(engine, request);
    const shadow = decision.shadow ?? decision;
    const got: NonNullable<TestResult['got']> = {
      decision: decided(decision), policies: [...decision.policies], ...(decision.needsApproval ? { approvers: decision.needsApproval.approvers } : {}), errors: [...decision.errors],
      shadow: decided(shadow), shadow_policies: [...shadow.policies], ...(shadow.needsApproval ? { shadow_approvers: shadow.needsApproval.approvers } : {}),
    };
    const approval = (lists: string[][] | undefined): string => (lists ? `; approvers ${approversText(lists)}` : '');
    const failures: string[] = [];
    if (got.decision !== expected.decision) failures.push(`expected ${expected.decision}, got ${got.decision} (by ${listed(got.policies)}${approval(got.approvers)})`);
    if (expected.policies && !sameSet(expected.policies, got.policies)) failures.push(`expected the decision by ${listed(expected.policies)}, got it by ${listed(got.policies)}`);
    if (expected.approvers && got.decision === 'needs-approval' && JSON.stringify(expected.approvers) !== JSON.stringify(got.approvers)) {
      failures.push(`expected approval by ${approversText(expected.approvers)}, got approval by ${approversText(got.approvers ?? [])}`);
    }
    if (expected.approvers && expected.decision !== 'needs-approval') failures.push('approvers are expected only of a needs-approval decision');
    if (expected.shadow && expected.shadow !== got.shadow) failures.push(`expected the shadow decision ${expected.shadow}, got ${got.shadow} (by ${listed(got.shadow_policies)}${approval(got.shadow_approvers)})`);
    if (!expected.errors && got.errors.length > 0) failures.push(`evaluation errors: ${got.errors.join('; ')}`);
    if (expected.errors && got.errors.length === 0) failures.push('expected evaluation errors, got none');
    return { ...base, passed: failures.length === 0, got, failures };
  });
}
