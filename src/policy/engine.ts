// The policy engine the rest of Mandate asks: one active, validated policy set and
// its decision point. A new set is a new engine; the one in use stays until the
// candidate has loaded (see app.ts, reloadPolicies).
import { DecisionPoint, type AuthorizationRequest, type Decision } from './decision-point.ts';
import { PolicySet, type LoadedPolicy, type PolicySource } from './policy-set.ts';
import { policyReads, project, type PolicyReads } from './projection.ts';

export type { AuthorizationRequest, Decision, EntityRecord, EntityRef, Evaluation } from './decision-point.ts';
export type { LoadedPolicy, PolicyMode, PolicySource } from './policy-set.ts';
export { splitPolicies } from './policy-set.ts';

export class PolicyEngine {
  readonly set: PolicySet;
  readonly #point: DecisionPoint;
  /** What the set (shadow policies included) can read of a request. */
  readonly #reads: PolicyReads;

  constructor(set: PolicySet) {
    this.set = set;
    this.#point = new DecisionPoint(set);
    this.#reads = policyReads(set.policies);
  }

  /** Parses, validates against the schema and indexes a policy set; throws with every problem found. */
  static load(sources: PolicySource[], schemaText: string): PolicyEngine {
    return new PolicyEngine(PolicySet.load(sources, schemaText));
  }

  get hash(): string {
    return this.set.hash;
  }

  get policies(): readonly LoadedPolicy[] {
    return this.set.policies;
  }

  /**
   * Decides the request cut to what the set can read (see projection.ts): the same
   * answer as for the whole request, and equal questions become equal requests, so
   * the decision point remembers them.
   */
  decide(request: AuthorizationRequest): Decision {
    return this.#point.decide(project(request, this.#reads));
  }
}
