// A policy set as it is activated: the `.cedar` sources split into single policies,
// each with its id (`@id("…")`, else `<file>#<n>`), effect, mode and parsed JSON
// form; validated against the schema; named by a content hash that every decision
// records. Loading either yields a whole valid set or throws naming every problem.
import { createHash } from 'node:crypto';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { MandateError } from '../errors.ts';

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
  /** Cedar's JSON form of the policy (its scope is what the decision point indexes). */
  json: cedar.PolicyJson;
}

/** Splits policy files into individual policies, each named by its `@id("…")` or `<file>#<n>`. */
export function splitPolicies(sources: PolicySource[]): LoadedPolicy[] {
  const policies: LoadedPolicy[] = [];
  const seen = new Set<string>();
  for (const source of sources) {
    const parts = cedar.policySetTextToParts(source.text);
    if (parts.type === 'failure') {
      throw new MandateError('policy_invalid', `${source.origin}: ${parts.errors.map((e) => e.message).join('; ')}`);
    }
    if (parts.policy_templates.length > 0) throw new MandateError('policy_invalid', `${source.origin}: policy templates are not supported yet`);
    parts.policies.forEach((text, index) => {
      const parsed = cedar.policyToJson(text);
      if (parsed.type === 'failure') throw new MandateError('policy_invalid', `${source.origin}: ${parsed.errors.map((e) => e.message).join('; ')}`);
      const json = parsed.json;
      const id = json.annotations?.id ?? `${source.origin}#${index}`;
      if (seen.has(id)) throw new MandateError('policy_invalid', `${source.origin}: policy id "${id}" is used twice`);
      seen.add(id);
      const mode = json.annotations?.mode ?? 'enforce';
      if (mode !== 'enforce' && mode !== 'shadow') throw new MandateError('policy_invalid', `${source.origin} (${id}): @mode must be "enforce" or "shadow", not "${mode}"`);
      policies.push({ id, origin: source.origin, text, effect: json.effect, mode, json });
    });
  }
  return policies;
}

/** The content hash of a set: over every policy's id and text, in id order. */
export function policySetHash(policies: readonly LoadedPolicy[]): string {
  const hash = createHash('sha256');
  for (const p of [...policies].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))) hash.update(`${p.id}\n${p.text}\n`);
  return `sha256:${hash.digest('hex')}`;
}

export class PolicySet {
  readonly policies: readonly LoadedPolicy[];
  readonly hash: string;

  private constructor(policies: LoadedPolicy[], hash: string) {
    this.policies = policies;
    this.hash = hash;
  }

  /** Parses and validates a candidate set against the schema; throws with every problem found. */
  static load(sources: PolicySource[], schemaText: string): PolicySet {
    const policies = splitPolicies(sources);
    const staticPolicies = Object.fromEntries(policies.map((p) => [p.id, p.text]));
    const validation = cedar.validate({ schema: schemaText, policies: { staticPolicies }, validationSettings: { mode: 'strict' } });
    if (validation.type === 'failure') {
      throw new MandateError('policy_schema_invalid', `schema or policies failed to parse: ${validation.errors.map((e) => e.message).join('; ')}`);
    }
    if (validation.validationErrors.length > 0) {
      const where = new Map(policies.map((p) => [p.id, p.origin]));
      const problems = validation.validationErrors.map((e) => `${where.get(e.policyId) ?? '?'} (${e.policyId}): ${e.error.message}`);
      throw new MandateError('policy_invalid', `policies do not validate against the schema: ${problems.join('; ')}`);
    }
    return new PolicySet(policies, policySetHash(policies));
  }

  /** A set from policies already split, without a schema (tests and benchmarks of the decision point). */
  static unvalidated(policies: LoadedPolicy[]): PolicySet {
    return new PolicySet(policies, policySetHash(policies));
  }
}
