// The decision with approvals. A forbid annotated `@approval("…")` stops what it
// matches until one of the approvers it names says yes: a request denied only by such
// policies, with no evaluation error, that the rest of the set would allow, needs
// approval instead of being denied. Anything else stays as the set decides it — a
// plain forbid, an error or the absence of any permit is a deny no approval can lift.
//
// "The rest of the set" is the lifted engine: the same set without its approval
// policies, built once per engine. It also decides a call whose approval is held
// (with `context.approvals` naming who approved), so an approved call still meets
// every other policy.
import type { ApproverSpec } from '../approvals/types.ts';
import { PolicyEngine, type AuthorizationRequest, type Decision, type LoadedPolicy } from './engine.ts';

/** The code of a call refused because it needs approval (audit events, MCP and AuthZEN answers). */
export const APPROVAL_REQUIRED = 'approval_required';

/** Who must approve, and for which policies. */
export interface NeedsApproval {
  /** The determining approval policies, in id order. */
  policies: string[];
  /** For each of those policies (same order), the approvers it names: one of each list must approve. */
  approvers: ApproverSpec[][];
}

/** A Decision, and whether approval would lift its deny. */
export interface DecisionWithApprovals extends Decision {
  /** Present when the request is denied only by approval policies and would be allowed with them set aside. */
  needsApproval?: NeedsApproval;
  /** As Decision's, with `needsApproval` when the set with shadow policies enforced would need approval. */
  shadow?: NonNullable<Decision['shadow']> & { needsApproval?: NeedsApproval };
}

export const isApprovalPolicy = (policy: LoadedPolicy): boolean => policy.effect === 'forbid' && policy.approval !== null;

const lifted = new WeakMap<PolicyEngine, PolicyEngine>();

/**
 * The engine's set without its approval policies (enforced and shadow ones alike);
 * the engine itself when it has none. Its decisions carry the whole set's hash: an
 * approved call is decided under the active set, with its approval.
 */
export function liftedEngine(engine: PolicyEngine): PolicyEngine {
  let known = lifted.get(engine);
  if (!known) {
    known = engine.policies.some(isApprovalPolicy) ? new PolicyEngine(engine.set.subset((p) => !isApprovalPolicy(p))) : engine;
    lifted.set(engine, known);
  }
  return known;
}

const approvalsOf = new WeakMap<PolicyEngine, Map<string, readonly ApproverSpec[]>>();

/** Each approval policy's approvers, by id. */
function approvalPolicies(engine: PolicyEngine): Map<string, readonly ApproverSpec[]> {
  let known = approvalsOf.get(engine);
  if (!known) {
    known = new Map(engine.policies.filter(isApprovalPolicy).map((p) => [p.id, p.approval as ApproverSpec[]]));
    approvalsOf.set(engine, known);
  }
  return known;
}

/**
 * The approval a deny needs, or undefined: every determining policy is an approval
 * policy (at least one), nothing failed, and the decision without them is an allow
 * that nothing failed in either.
 */
function approvalFor(denied: { decision: string; policies: readonly string[]; errors: readonly string[] }, without: () => { decision: string; errors: readonly string[] }, approvals: Map<string, readonly ApproverSpec[]>): NeedsApproval | undefined {
  if (denied.decision !== 'deny' || denied.errors.length > 0 || denied.policies.length === 0) return undefined;
  if (!denied.policies.every((id) => approvals.has(id))) return undefined;
  const other = without();
  if (other.decision !== 'allow' || other.errors.length > 0) return undefined;
  const policies = [...denied.policies].sort();
  return { policies, approvers: policies.map((id) => [...(approvals.get(id) as ApproverSpec[])]) };
}

/**
 * The engine's decision, with `needsApproval` when approval would lift its deny (and
 * `shadow.needsApproval` likewise for the decision with shadow policies enforced).
 * The decision itself is unchanged: a request that needs approval is a deny until the
 * approval is held, and then it is decided by liftedEngine.
 */
export function decideWithApprovals(engine: PolicyEngine, request: AuthorizationRequest): DecisionWithApprovals {
  const decision = engine.decide(request);
  const approvals = approvalPolicies(engine);
  if (approvals.size === 0) return decision;
  let withoutThem: Decision | undefined;
  const without = (): Decision => (withoutThem ??= liftedEngine(engine).decide(request));
  const needsApproval = approvalFor(decision, without, approvals);
  const shadowApproval = decision.shadow && approvalFor(decision.shadow, () => without().shadow ?? without(), approvals);
  if (!needsApproval && !shadowApproval) return decision;
  return {
    ...decision,
    ...(needsApproval ? { needsApproval } : {}),
    ...(shadowApproval && decision.shadow ? { shadow: { ...decision.shadow, needsApproval: shadowApproval } } : {}),
  };
}
