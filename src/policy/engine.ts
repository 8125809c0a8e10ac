// The decision point: Cedar (cedar-wasm) over the active policy set. Every answer is
// data: the decision, the determining policy ids, the policy-set hash and any
// evaluation errors. Any failure to decide is a deny (fail closed).
import { createHash } from 'node:crypto';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { MandateError } from '../errors.ts';

export interface EntityRef {
  type: string;
  id: string;
}

export interface EntityRecord {
  uid: EntityRef;
  attrs: Record<string, cedar.CedarValueJson>;
  parents: EntityRef[];
}

export interface AuthorizationRequest {
  principal: EntityRef;
  action: string;
  resource: EntityRef;
  context: Record<string, cedar.CedarValueJson>;
  entities: EntityRecord[];
}

export interface Decision {
  decision: 'allow' | 'deny';
  /** Ids of the policies that determined the decision (empty for a default deny). */
  policies: string[];
  policySetHash: string;
  errors: string[];
}

export interface PolicySource {
  /** Where the policies came from (file name), for error messages. */
  origin: string;
  text: string;
}

export interface LoadedPolicy {
  id: string;
  origin: string;
  text: string;
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
      const json = cedar.policyToJson(text);
      const annotated = json.type === 'success' ? json.json.annotations?.id : undefined;
      const id = annotated ?? `${source.origin}#${index}`;
      if (seen.has(id)) throw new MandateError('policy_invalid', `${source.origin}: policy id "${id}" is used twice`);
      seen.add(id);
      policies.push({ id, origin: source.origin, text });
    });
  }
  return policies;
}

/** How many distinct requests a policy set remembers its answers to (oldest forgotten first). */
const DECISION_MEMORY = 10_000;

export class PolicyEngine {
  readonly hash: string;
  readonly policies: readonly LoadedPolicy[];
  readonly #decisions = new Map<string, Decision>();

  private constructor(policies: LoadedPolicy[], hash: string) {
    this.policies = policies;
    this.hash = hash;
  }

  /** Parses, validates against the schema and pre-parses a policy set; throws with every problem found. */
  static load(sources: PolicySource[], schemaText: string): PolicyEngine {
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
    const hash = createHash('sha256');
    for (const p of [...policies].sort((a, b) => a.id.localeCompare(b.id))) hash.update(`${p.id}\n${p.text}\n`);
    const setHash = `sha256:${hash.digest('hex')}`;
    const prepared = cedar.preparsePolicySet(setHash, { staticPolicies });
    if (prepared.type === 'failure') throw new MandateError('policy_invalid', prepared.errors.map((e) => e.message).join('; '));
    return new PolicyEngine(policies, setHash);
  }

  /**
   * A decision is a pure function of the request (entities included) and this policy
   * set, so equal requests are answered from memory. Nothing outside the request is
   * remembered: a changed agent status, mandate or tool label is a different request.
   */
  decide(request: AuthorizationRequest): Decision {
    const key = JSON.stringify(request);
    const known = this.#decisions.get(key);
    if (known) return known;
    const decision = this.#evaluate(request);
    if (decision.errors.length > 0) return decision; // a failure may be passing: ask again next time
    if (this.#decisions.size >= DECISION_MEMORY) this.#decisions.delete(this.#decisions.keys().next().value as string);
    const remembered = Object.freeze({ ...decision, policies: Object.freeze([...decision.policies]) as string[] });
    this.#decisions.set(key, remembered);
    return remembered;
  }

  #evaluate(request: AuthorizationRequest): Decision {
    const deny = (errors: string[]): Decision => ({ decision: 'deny', policies: [], policySetHash: this.hash, errors });
    let answer: cedar.AuthorizationAnswer;
    try {
      answer = cedar.statefulIsAuthorized({
        principal: request.principal,
        action: { type: 'Action', id: request.action },
        resource: request.resource,
        context: request.context,
        entities: request.entities,
        preparsedPolicySetId: this.hash,
      });
    } catch (error) {
      return deny([`the decision point failed: ${(error as Error).message}`]);
    }
    if (answer.type === 'failure') return deny(answer.errors.map((e) => e.message));
    const { decision, diagnostics } = answer.response;
    const errors = diagnostics.errors.map((e) => `${e.policyId}: ${e.error.message}`);
    // A policy that failed to evaluate might have been a forbid: never allow past it.
    if (decision === 'allow' && errors.length > 0) return deny(errors);
    return { decision, policies: diagnostics.reason, policySetHash: this.hash, errors };
  }
}
