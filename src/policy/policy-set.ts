// A policy set as it is activated: the `.cedar` sources split into single policies,
// each with its id (`@id("…")`, else `<file>#<n>`), effect, mode, parsed JSON form
// and place in its file; validated against the schema; named by a content hash that
// every decision records. Checking a candidate either yields a whole valid set or
// every problem found, each at its file, line and column (see problems.ts).
import { createHash } from 'node:crypto';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { isApproverSpec, type ApproverSpec } from '../approvals/types.ts';
import { actionGroupsOf, type ActionGroups } from './action-groups.ts';
import { PolicyInvalidError, compareProblems, lineColumn, problemAt, problemFromCedar, type PolicyProblem } from './problems.ts';

export interface PolicySource {
  /** Where the policies came from (file name), for error messages. */
  origin: string;
  text: string;
}

/** `enforce`: decides; `shadow` (`@mode("shadow")`): evaluated and recorded, never enforced. */
export type PolicyMode = 'enforce' | 'shadow';

export interface LoadedPolicy {
  id: string;
  origin: string;
  text: string;
  effect: 'permit' | 'forbid';
  mode: PolicyMode;
  /**
   * `@approval("owner, group:security")` on a forbid: what it forbids may be done once
   * one of these approves it (see approval-decision.ts); null for any other policy.
   */
  approval: ApproverSpec[] | null;
  /** Cedar's JSON form of the policy (its scope is what the decision point indexes). */
  json: cedar.PolicyJson;
  /** Where the policy starts in its file (1-based line and column), when it came from one. */
  line?: number;
  column?: number;
}

interface Parsed {
  policy: LoadedPolicy;
  /** The file's text and the character index where the policy's text starts in it. */
  file: string;
  fileText: string;
  base: number;
}

/** Parses each file whole (so syntax errors point into the file) and finds each policy's place in it. */
function parseSources(sources: readonly PolicySource[], problems: PolicyProblem[]): Parsed[] {
  const parsed: Parsed[] = [];
  const firstUse = new Map<string, LoadedPolicy>();
  for (const source of sources) {
    const whole = { file: source.origin, text: source.text, base: 0 };
    const parts = cedar.policySetTextToParts(source.text);
    if (parts.type === 'failure') {
      problems.push(...parts.errors.map((e) => problemFromCedar(whole, e, null)));
      continue;
    }
    // Cedar hands back each policy's own source text, in file order; finding each one
    // after the last gives its offset in the file even when two policies read the same.
    let cursor = 0;
    const bases = parts.policies.map((text) => {
      const found = source.text.indexOf(text, cursor);
      const base = found === -1 ? cursor : found;
      if (found !== -1) cursor = found + text.length;
      return base;
    });
    for (const text of parts.policy_templates) {
      const base = Math.max(0, source.text.indexOf(text));
      problems.push(problemAt(whole, base, base + text.length, 'policy templates are not supported yet'));
    }
    parts.policies.forEach((text, n) => {
      const base = bases[n] as number;
      const where = { file: source.origin, text: source.text, base };
      const json = cedar.policyToJson(text);
      if (json.type === 'failure') {
        problems.push(...json.errors.map((e) => problemFromCedar(where, e, null)));
        return;
      }
      const annotations = json.json.annotations ?? {};
      const id = annotations.id ?? `${source.origin}#${n}`;
      const at = (pattern: RegExp): [number, number] => {
        const match = pattern.exec(text);
        return match ? [base + match.index, base + match.index + match[0].length] : [base, base];
      };
      const mode = annotations.mode ?? 'enforce';
      if (mode !== 'enforce' && mode !== 'shadow') {
        problems.push(problemAt(where, ...at(/@mode\s*\([^)]*\)/), `@mode must be "enforce" or "shadow", not "${mode}"`, { policy: id }));
        return;
      }
      const approval = annotations.approval === undefined ? null : readApproval(annotations.approval, json.json.effect);
      if (approval !== null && !Array.isArray(approval)) {
        const [start, end] = at(/@approval\s*\([^)]*\)/);
        const inside = approval.entry === undefined ? -1 : text.slice(start - base, end - base).indexOf(approval.entry);
        const span: [number, number] = inside === -1 ? [start, end] : [start + inside, start + inside + (approval.entry as string).length];
        problems.push(problemAt(where, ...span, approval.problem, { policy: id }));
        return;
      }
      const { line, column } = lineColumn(source.text, base);
      const first = firstUse.get(id);
      if (first) {
        problems.push(problemAt(where, ...at(/@id\s*\([^)]*\)/), `policy id "${id}" is already used by the policy at ${first.origin}:${first.line}:${first.column}`, { policy: id }));
        return;
      }
      const policy: LoadedPolicy = { id, origin: source.origin, text, effect: json.json.effect, mode, approval, json: json.json, line, column };
      firstUse.set(id, policy);
      parsed.push({ policy, file: source.origin, fileText: source.text, base });
    });
  }
  return parsed;
}

const APPROVER_KINDS = 'owner, sponsor, initiator or group:<name>';

/**
 * An `@approval` annotation's approvers: alternatives separated by commas, each
 * `owner`, `sponsor`, `initiator` or `group:<name>` (repeats dropped); or what is
 * wrong with it, and the entry at fault when it is one entry.
 */
function readApproval(value: string, effect: 'permit' | 'forbid'): ApproverSpec[] | { problem: string; entry?: string } {
  if (effect !== 'forbid') return { problem: '@approval belongs on a forbid: it names who may approve what the forbid stops, and a permit stops nothing' };
  const entries = value.split(',').map((entry) => entry.trim());
  if (entries.every((entry) => entry === '')) return { problem: `@approval names no approver: write one or more of ${APPROVER_KINDS}, separated by commas` };
  const approvers: ApproverSpec[] = [];
  for (const entry of entries) {
    if (entry === '') return { problem: `@approval has an empty entry: write ${APPROVER_KINDS}, separated by commas` };
    if (entry.startsWith('group:') && !isApproverSpec(entry)) {
      return { problem: `group name "${entry.slice(6)}" in @approval is not valid: lower-case letters, digits, ".", "_" and "-", starting with a letter or digit, at most 64`, entry };
    }
    if (!isApproverSpec(entry)) return { problem: `unknown approver "${entry}" in @approval: write ${APPROVER_KINDS}`, entry };
    if (!approvers.includes(entry)) approvers.push(entry);
  }
  return approvers;
}

/** Splits policy files into individual policies, each named by its `@id("…")` or `<file>#<n>`; throws naming every problem. */
export function splitPolicies(sources: PolicySource[]): LoadedPolicy[] {
  const problems: PolicyProblem[] = [];
  const parsed = parseSources(sources, problems);
  if (problems.length > 0) throw new PolicyInvalidError(problems.sort(compareProblems), 'the policies');
  return parsed.map((p) => p.policy);
}

/** The content hash of a set: over every policy's id and text, in id order. */
export function policySetHash(policies: readonly LoadedPolicy[]): string {
  const hash = createHash('sha256');
  for (const p of [...policies].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))) hash.update(`${p.id}\n${p.text}\n`);
  return `sha256:${hash.digest('hex')}`;
}

export interface SchemaSource {
  /** The schema's file name, for problems in it. */
  origin: string;
  text: string;
}

/** A candidate set checked: the set, or why not; warnings (impossible policies, say) either way. */
export type PolicyCheck =
  | { ok: true; set: PolicySet; warnings: PolicyProblem[] }
  | { ok: false; problems: PolicyProblem[]; warnings: PolicyProblem[] };

const DEFAULT_SCHEMA_ORIGIN = 'schema.cedarschema';

export class PolicySet {
  readonly policies: readonly LoadedPolicy[];
  readonly hash: string;
  /** The action groups of the schema the set was validated against (none without a schema). */
  readonly actionGroups: ActionGroups;

  private constructor(policies: LoadedPolicy[], hash: string, actionGroups: ActionGroups = new Map()) {
    this.policies = policies;
    this.hash = hash;
    this.actionGroups = actionGroups;
  }

  /**
   * Parses and validates a candidate set against the schema (strict mode), finding
   * every problem it can: syntax errors per file, then duplicate ids and bad modes,
   * then what the validator says of each policy that parsed.
   */
  static check(sources: readonly PolicySource[], schema: string | SchemaSource): PolicyCheck {
    const schemaSource = typeof schema === 'string' ? { origin: DEFAULT_SCHEMA_ORIGIN, text: schema } : schema;
    const problems: PolicyProblem[] = [];
    const warnings: PolicyProblem[] = [];
    const schemaParsed = cedar.checkParseSchema(schemaSource.text);
    if (schemaParsed.type === 'failure') {
      const whole = { file: schemaSource.origin, text: schemaSource.text, base: 0 };
      return { ok: false, problems: schemaParsed.errors.map((e) => problemFromCedar(whole, e, null)), warnings };
    }
    const parsed = parseSources(sources, problems);
    const byId = new Map(parsed.map((p) => [p.policy.id, p]));
    if (parsed.length > 0) {
      const validation = cedar.validate({
        schema: schemaSource.text,
        policies: { staticPolicies: Object.fromEntries(parsed.map((p) => [p.policy.id, p.policy.text])) },
        validationSettings: { mode: 'strict' },
      });
      if (validation.type === 'failure') {
        const whole = { file: schemaSource.origin, text: schemaSource.text, base: 0 };
        problems.push(...validation.errors.map((e) => problemFromCedar(whole, e, null)));
      } else {
        const place = (e: cedar.ValidationError, severity: PolicyProblem['severity']): PolicyProblem => {
          const p = byId.get(e.policyId) as Parsed;
          return problemFromCedar({ file: p.file, text: p.fileText, base: p.base }, e.error, e.policyId, severity);
        };
        problems.push(...validation.validationErrors.map((e) => place(e, 'error')));
        warnings.push(...validation.validationWarnings.map((e) => place(e, 'warning')));
      }
    }
    warnings.sort(compareProblems);
    if (problems.length > 0) return { ok: false, problems: problems.sort(compareProblems), warnings };
    const policies = parsed.map((p) => p.policy);
    return { ok: true, set: new PolicySet(policies, policySetHash(policies), actionGroupsOf(schemaSource.text)), warnings };
  }

  /** Parses and validates a candidate set against the schema; throws a PolicyInvalidError naming every problem. */
  static load(sources: PolicySource[], schema: string | SchemaSource): PolicySet {
    const checked = PolicySet.check(sources, schema);
    if (!checked.ok) throw new PolicyInvalidError(checked.problems);
    return checked.set;
  }

  /**
   * Some of this set's policies, under this set's hash and action groups: a view used
   * to decide part of the active set (approval-decision.ts), whose decisions are
   * recorded as the active set's.
   */
  subset(keep: (policy: LoadedPolicy) => boolean): PolicySet {
    return new PolicySet(this.policies.filter(keep), this.hash, this.actionGroups);
  }

  /** A set from policies already split, without a schema (tests and benchmarks of the decision point). */
  static unvalidated(policies: LoadedPolicy[]): PolicySet {
    return new PolicySet(policies, policySetHash(policies));
  }
}
