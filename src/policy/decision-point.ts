// The decision point: Cedar (cedar-wasm) over the active policy set, asked per
// request with only the policies whose scope can apply (see policy-index.ts), each
// such slice pre-parsed once and kept; answers to identical requests under an
// unchanged set are remembered. Every answer is data: the decision, the determining
// policy ids, the set's hash and any evaluation errors. Any failure to decide is a
// deny (fail closed). Shadow policies (`@mode("shadow")`) never change a decision:
// when one could apply, the decision the set would give with them enforced is
// reported beside it.
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { Unsupported, authorize, compilePolicy, readRequest, type CompiledPolicy, type RequestView } from './evaluator/evaluate.ts';
import { Hierarchy } from './evaluator/hierarchy.ts';
import { PolicyIndex, type EntityRef } from './policy-index.ts';
import type { LoadedPolicy, PolicySet } from './policy-set.ts';

export type { EntityRef };

export interface EntityRecord {
  uid: EntityRef;
  attrs: Record<string, cedar.CedarValueJson>;
  parents: EntityRef[];
  tags?: Record<string, cedar.CedarValueJson>;
}

export interface AuthorizationRequest {
  principal: EntityRef;
  /** The action's id (its type is `Action`). */
  action: string;
  resource: EntityRef;
  context: Record<string, cedar.CedarValueJson>;
  entities: EntityRecord[];
}

/** What Cedar answers, before Mandate's fail-closed reading of it. */
export interface Evaluation {
  decision: 'allow' | 'deny';
  /** Satisfied policies that determined the decision, sorted. */
  reasons: string[];
  /** Evaluation errors, as `<policy id>: <message>`, or request-level failures. */
  errors: string[];
  /** The request itself could not be evaluated (bad entities or context). */
  failed: boolean;
  /** Who evaluated: Mandate's in-process evaluator, or cedar-wasm (for what the former does not handle). */
  evaluator: 'in-process' | 'cedar-wasm';
}

export interface Decision {
  decision: 'allow' | 'deny';
  /** Ids of the policies that determined the decision (empty for a default deny). */
  policies: string[];
  policySetHash: string;
  errors: string[];
  /** Present when a shadow policy could apply: the decision with shadow policies enforced. */
  shadow?: { decision: 'allow' | 'deny'; policies: string[]; errors: string[] };
}

/** How many distinct requests a policy set remembers its answers to (oldest forgotten first). */
const DECISION_MEMORY = 10_000;
/** How many pre-parsed slices are kept (across policy sets; least recently used dropped). */
const SLICE_SLOTS = 4096;

/**
 * Pre-parsed slices live in cedar-wasm's own store under slot ids; slots are reused
 * once their slice is forgotten, so reloading sets never grows that store unboundedly.
 */
class SliceSlots {
  readonly #slots = new Map<string, string>();
  readonly #free: string[] = [];
  #next = 0;

  /** The preparsed id for a slice, pre-parsing it on first use. */
  slot(key: string, policies: readonly LoadedPolicy[]): string {
    const known = this.#slots.get(key);
    if (known !== undefined) {
      this.#slots.delete(key);
      this.#slots.set(key, known); // most recently used last
      return known;
    }
    if (this.#slots.size >= SLICE_SLOTS) {
      const [oldestKey, oldestSlot] = this.#slots.entries().next().value as [string, string];
      this.#slots.delete(oldestKey);
      this.#free.push(oldestSlot);
    }
    const slot = this.#free.pop() ?? `mandate-slice-${this.#next++}`;
    const parsed = cedar.preparsePolicySet(slot, { staticPolicies: Object.fromEntries(policies.map((p) => [p.id, p.text])) });
    if (parsed.type === 'failure') throw new Error(parsed.errors.map((e) => e.message).join('; '));
    this.#slots.set(key, slot);
    return slot;
  }
}

const slices = new SliceSlots();

export class DecisionPoint {
  readonly #set: PolicySet;
  readonly #index: PolicyIndex<LoadedPolicy>;
  readonly #order: Map<LoadedPolicy, number>;
  readonly #decisions = new Map<string, Decision>();
  /** Each policy compiled for the in-process evaluator; absent when it uses what only Cedar knows. */
  readonly #compiled = new Map<LoadedPolicy, CompiledPolicy>();

  constructor(set: PolicySet) {
    this.#set = set;
    for (const policy of set.policies) {
      try {
        this.#compiled.set(policy, compilePolicy(policy.id, policy.json));
      } catch (error) {
        if (!(error instanceof Unsupported)) throw error;
      }
    }
    this.#index = new PolicyIndex(set.policies.map((policy) => ({ policy, json: policy.json })));
    this.#order = new Map(set.policies.map((p, i) => [p, i]));
  }

  get hash(): string {
    return this.#set.hash;
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
    const decision = this.#decide(request);
    if (decision.errors.length > 0 || (decision.shadow?.errors.length ?? 0) > 0) return decision; // a failure may be passing: ask again next time
    if (this.#decisions.size >= DECISION_MEMORY) this.#decisions.delete(this.#decisions.keys().next().value as string);
    const remembered = Object.freeze({ ...decision, policies: Object.freeze([...decision.policies]) as string[] });
    this.#decisions.set(key, remembered);
    return remembered;
  }

  #decide(request: AuthorizationRequest): Decision {
    const view = this.#view(request);
    const candidates = this.#candidates(request, view);
    const enforced = candidates.filter((p) => p.mode === 'enforce');
    const decision = failClosed(this.#evaluateSlice(request, view, enforced), this.#set.hash);
    if (enforced.length === candidates.length) return decision;
    const shadow = failClosed(this.#evaluateSlice(request, view, candidates), this.#set.hash);
    return { ...decision, shadow: { decision: shadow.decision, policies: shadow.policies, errors: shadow.errors } };
  }

  /** The request as the in-process evaluator reads it; null when Cedar must read it instead. */
  #view(request: AuthorizationRequest): RequestView | null {
    try {
      return readRequest({ ...request, action: { type: 'Action', id: request.action } });
    } catch {
      return null; // Unsupported (or anything unexpected): Cedar itself decides.
    }
  }

  /** The policies of the set whose scope accepts this request, in set order. */
  candidates(request: AuthorizationRequest): LoadedPolicy[] {
    return this.#candidates(request, this.#view(request));
  }

  #candidates(request: AuthorizationRequest, view: RequestView | null): LoadedPolicy[] {
    const hierarchy = view ?? new Hierarchy(request.entities);
    const found = this.#index.candidates(request.principal, { type: 'Action', id: request.action }, request.resource, (key) => hierarchy.ancestors(key));
    return found.size <= 1 ? [...found] : [...found].sort((a, b) => (this.#order.get(a) as number) - (this.#order.get(b) as number));
  }

  /** Cedar's answer over the policies that can apply, enforced and shadow alike (what the whole set would answer). */
  evaluate(request: AuthorizationRequest): Evaluation {
    const view = this.#view(request);
    return this.#evaluateSlice(request, view, this.#candidates(request, view));
  }

  #evaluateSlice(request: AuthorizationRequest, view: RequestView | null, policies: readonly LoadedPolicy[]): Evaluation {
    if (view !== null) {
      const compiled = policies.map((p) => this.#compiled.get(p));
      if (compiled.every((p) => p !== undefined)) {
        try {
          return { ...authorize(view, compiled), failed: false, evaluator: 'in-process' };
        } catch {
          // Unsupported here (or anything unexpected): Cedar itself decides.
        }
      }
    }
    return this.#askCedar(request, policies);
  }

  /** cedar-wasm's answer over the policies that can apply (the in-process evaluator is not asked). */
  evaluateWithCedar(request: AuthorizationRequest): Evaluation {
    return this.#askCedar(request, this.candidates(request));
  }

  #askCedar(request: AuthorizationRequest, policies: readonly LoadedPolicy[]): Evaluation {
    let answer: cedar.AuthorizationAnswer;
    try {
      // Even an empty slice is asked: Cedar still checks the request's entities and context.
      const slot = slices.slot(`${this.#set.hash}\n${policies.map((p) => p.id).join('\n')}`, policies);
      answer = cedar.statefulIsAuthorized({
        principal: request.principal,
        action: { type: 'Action', id: request.action },
        resource: request.resource,
        context: request.context,
        entities: request.entities as cedar.Entities,
        preparsedPolicySetId: slot,
      });
    } catch (error) {
      return { decision: 'deny', reasons: [], errors: [`the decision point failed: ${(error as Error).message}`], failed: true, evaluator: 'cedar-wasm' };
    }
    return readAnswer(answer);
  }
}

/** Cedar's answer as an Evaluation (reasons sorted, errors as `<policy>: <message>`). */
export function readAnswer(answer: cedar.AuthorizationAnswer): Evaluation {
  if (answer.type === 'failure') return { decision: 'deny', reasons: [], errors: answer.errors.map((e) => e.message), failed: true, evaluator: 'cedar-wasm' };
  const { decision, diagnostics } = answer.response;
  return {
    decision,
    reasons: [...diagnostics.reason].sort(),
    errors: diagnostics.errors.map((e) => `${e.policyId}: ${e.error.message}`).sort(),
    failed: false,
    evaluator: 'cedar-wasm',
  };
}

/** Mandate's reading: a policy that failed to evaluate might have been a forbid, so never allow past it. */
function failClosed(evaluation: Evaluation, policySetHash: string): Decision {
  if (evaluation.errors.length > 0) return { decision: 'deny', policies: evaluation.decision === 'deny' ? evaluation.reasons : [], policySetHash, errors: evaluation.errors };
  return { decision: evaluation.decision, policies: evaluation.reasons, policySetHash, errors: [] };
}
