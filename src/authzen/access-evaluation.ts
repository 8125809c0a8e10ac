// AuthZEN access evaluations decided by Mandate's active policy set: one request, or
// a batch under one of the three evaluations semantics (execute_all,
// deny_on_first_deny, permit_on_first_permit), all against the same policy set.
// Each answer is an AuthZEN Decision whose context explains it the way every Mandate
// decision is explained: the determining policies, the policy set's hash, the errors.
// Anything that keeps a request from being decided denies it (fail closed). A request
// that needs a person's approval is a deny too (`decision: false`: it must not go
// ahead as asked), whose context says so and names the approvers.
import { argumentsDigest, type AuditEvent } from '../audit/event.ts';
import { describeCaller, type Caller } from '../identity/caller.ts';
import { MandateError } from '../errors.ts';
import type { ApproverSpec } from '../approvals/types.ts';
import { APPROVAL_REQUIRED, decideWithApprovals, type DecisionWithApprovals } from '../policy/approval-decision.ts';
import type { AuthorizationRequest, PolicyEngine } from '../policy/engine.ts';
import type { ActionGroups } from '../policy/action-groups.ts';
import { toCedarRequest, type AccessRequest, type AuthzenEntity } from './cedar-request.ts';

export const EVALUATIONS_SEMANTICS = ['execute_all', 'deny_on_first_deny', 'permit_on_first_permit'] as const;
export type EvaluationsSemantic = (typeof EVALUATIONS_SEMANTICS)[number];

/** What Mandate puts in a Decision's `context`. */
export interface DecisionContext {
  /** Why, for administrators (it names policies): a Reason Field keyed by language. */
  reason_admin: { en: string };
  /** The determining policies (empty for a default deny). */
  policies: string[];
  policy_set_hash: string;
  /** Cedar's evaluation errors; any error denies. */
  errors?: string[];
  /** Present when the request itself could not be given to Cedar. */
  error?: { status: number; message: string };
  /**
   * Present when approval would let it go ahead: who must approve (one of each list:
   * a list per determining policy, `policies` in the same order). Mandate's own
   * member; a PEP that does not know it still sees `decision: false`.
   */
  approval?: { policies: string[]; approvers: ApproverSpec[][] };
  /** Present when a shadow policy could apply: what the set would decide with shadow policies enforced. */
  shadow?: { decision: boolean; policies: string[] };
  /** On the evaluation that ended a batch early: the semantic that ended it. */
  reason?: Exclude<EvaluationsSemantic, 'execute_all'>;
}

/** An AuthZEN Decision. */
export interface AccessDecision {
  decision: boolean;
  context: DecisionContext;
}

/** One evaluation as decided: what was asked, the answer, and the stable code of a denial. */
export interface Evaluation {
  request: AccessRequest;
  answer: AccessDecision;
  /** forbidden_by_policy, approval_required, no_policy_permits, decision_failed or invalid_evaluation; null when allowed. */
  denial: string | null;
}

function explain(answer: DecisionWithApprovals): { denial: string | null; why: string } {
  if (answer.errors.length > 0) return { denial: 'decision_failed', why: `denied: the request could not be evaluated (${answer.errors.join('; ')})` };
  if (answer.decision === 'allow') return { denial: null, why: `permitted by ${answer.policies.join(', ')}` };
  if (answer.needsApproval) {
    const { policies, approvers } = answer.needsApproval;
    return { denial: APPROVAL_REQUIRED, why: `denied until approved: needs approval by ${approvers.map((list) => list.join(' or ')).join(', and by ')} (asked by ${policies.join(', ')})` };
  }
  if (answer.policies.length > 0) return { denial: 'forbidden_by_policy', why: `forbidden by ${answer.policies.join(', ')}` };
  return { denial: 'no_policy_permits', why: 'denied: no policy permits this request' };
}

/** Decides one access evaluation with the given policy engine (and its schema's action groups). Never throws for what the request holds. */
export function evaluate(engine: PolicyEngine, request: AccessRequest, actionGroups?: ActionGroups): Evaluation {
  let cedarRequest: AuthorizationRequest;
  try {
    cedarRequest = toCedarRequest(request, actionGroups);
  } catch (error) {
    if (!(error instanceof MandateError)) throw error;
    return {
      request,
      denial: error.code,
      answer: { decision: false, context: { reason_admin: { en: `denied: ${error.message}` }, policies: [], policy_set_hash: engine.hash, error: { status: error.status, message: error.message } } },
    };
  }
  let answer: DecisionWithApprovals;
  try {
    answer = decideWithApprovals(engine, cedarRequest);
  } catch (error) {
    // The decision point is meant to answer every request; if it cannot, the answer is a deny that says so.
    answer = { decision: 'deny', policies: [], policySetHash: engine.hash, errors: [`the decision point failed: ${(error as Error).message}`] };
  }
  const { denial, why } = explain(answer);
  const context: DecisionContext = { reason_admin: { en: why }, policies: [...answer.policies], policy_set_hash: answer.policySetHash };
  if (answer.errors.length > 0) context.errors = [...answer.errors];
  if (answer.needsApproval) context.approval = { policies: [...answer.needsApproval.policies], approvers: answer.needsApproval.approvers.map((list) => [...list]) };
  if (answer.shadow) context.shadow = { decision: answer.shadow.decision === 'allow', policies: [...answer.shadow.policies] };
  return { request, denial, answer: { decision: answer.decision === 'allow' && answer.errors.length === 0, context } };
}

/**
 * Decides a batch in order. `execute_all` answers every evaluation; `deny_on_first_deny`
 * stops after the first denial (an error is a denial) and `permit_on_first_permit`
 * after the first permit: the answers end with the one that stopped the batch, which
 * then carries the semantic as its `reason` when evaluations were left unasked.
 */
export function evaluateAll(engine: PolicyEngine, requests: readonly AccessRequest[], semantic: EvaluationsSemantic, actionGroups?: ActionGroups): Evaluation[] {
  const evaluations: Evaluation[] = [];
  for (const request of requests) {
    const evaluation = evaluate(engine, request, actionGroups);
    evaluations.push(evaluation);
    const stops = semantic === 'deny_on_first_deny' ? !evaluation.answer.decision : semantic === 'permit_on_first_permit' && evaluation.answer.decision;
    if (stops) {
      if (evaluations.length < requests.length) evaluation.answer.context.reason = semantic as Exclude<EvaluationsSemantic, 'execute_all'>;
      break;
    }
  }
  return evaluations;
}

const uidText = (entity: AuthzenEntity): string => `${entity.type}::${JSON.stringify(entity.id)}`;

/**
 * The audit event of one evaluation: who asked, about which subject, action and
 * resource, and the answer. Properties and context are recorded by digest only.
 */
export function evaluationEvent(caller: Caller, evaluation: Evaluation, time: number): AuditEvent {
  const { request, answer, denial } = evaluation;
  return {
    kind: 'evaluation', time, server: '',
    person: caller.kind === 'person' ? caller.person.id : null, agents: caller.kind === 'agent' ? [caller.agent.spiffeId] : [],
    mandate: null, purpose: null, method: request.action.name, tool: null,
    argumentsDigest: argumentsDigest({ subject: request.subject, action: request.action, resource: request.resource, context: request.context ?? {} }),
    decision: answer.decision ? 'allow' : 'deny', reason: denial, policies: answer.context.policies, policySetHash: answer.context.policy_set_hash,
    outcome: answer.decision ? null : 'denied', latencyMs: null,
    caller: describeCaller(caller), subject: uidText(request.subject), resource: uidText(request.resource),
  };
}
