// Replay: the requests recorded with past decisions, decided again under a candidate
// set, and what would change. Each decision event carries the Cedar request exactly
// as the decision point was asked it (time, arguments and all), so the only thing
// that differs is the policy set. Decisions are read as the gateway acts on them:
// allow, deny, or needs-approval (approval-decision.ts).
import type { ApproverSpec } from '../approvals/types.ts';
import { decideWithApprovals, liftedEngine } from './approval-decision.ts';
import type { AuthorizationRequest, PolicyEngine } from './engine.ts';

/** A recorded decision, as read from the audit log (the REST view or the store). */
export interface RecordedDecision {
  seq: number;
  /** Milliseconds since the epoch. */
  time: number;
  person: string | null;
  /** The current actor's SPIFFE ID. */
  agent: string | null;
  server: string;
  method: string | null;
  target: string | null;
  decision: 'allow' | 'deny' | null;
  reason: string | null;
  policies: string[];
  policySetHash: string | null;
  request: AuthorizationRequest | null;
}

/**
 * Refusals of a call its policies allowed: the budget was spent, or the mandate ended,
 * between the decision and its count. The policy's own answer was allow.
 */
const REFUSED_AFTER_ALLOW = new Set(['mandate_exhausted', 'mandate_not_active']);

export type Outcome = 'allow' | 'deny' | 'needs-approval';

/**
 * What the policy set answered when the event was recorded. A refusal coded
 * `approval_…` (approval_required, or what became of the approval asked for) was the
 * set's needs-approval.
 */
export function recordedPolicyDecision(e: RecordedDecision): Outcome {
  if (e.decision === 'allow' || (e.reason !== null && REFUSED_AFTER_ALLOW.has(e.reason))) return 'allow';
  return e.reason?.startsWith('approval_') ? 'needs-approval' : 'deny';
}

export type Change = 'allow→deny' | 'deny→allow' | 'allow→needs-approval' | 'deny→needs-approval' | 'needs-approval→allow' | 'needs-approval→deny';

export interface ReplayedChange {
  seq: number;
  time: string;
  person: string | null;
  agent: string | null;
  server: string;
  method: string | null;
  target: string | null;
  change: Change;
  recorded: { decision: Outcome; policies: string[]; policy_set_hash: string | null; reason: string | null };
  /** `approvers` when the replayed decision is needs-approval. */
  replayed: { decision: Outcome; policies: string[]; errors: string[]; approvers?: ApproverSpec[][] };
}

/** Changes counted: allow→deny, deny→allow, into needs-approval (from either), out of it (to either). */
interface Tally {
  allow_to_deny: number;
  deny_to_allow: number;
  to_approval: number;
  from_approval: number;
}
const tallyOf = (change: Change): keyof Tally => (change === 'allow→deny' ? 'allow_to_deny' : change === 'deny→allow' ? 'deny_to_allow' : change.endsWith('needs-approval') ? 'to_approval' : 'from_approval');

export interface ReplayReport {
  since: string;
  policy_set_hash: string;
  /** Decisions with a recorded request, decided again. */
  replayed: number;
  unchanged: number;
  /** Same decision, by other policies. */
  policies_changed: number;
  allow_to_deny: number;
  deny_to_allow: number;
  /** Changes to needs-approval (from allow or deny), and from it (to allow or deny). */
  to_approval: number;
  from_approval: number;
  /** Decision events without a recorded request (recorded before requests were, or refused before Cedar was asked). */
  skipped: number;
  recorded_under: string[];
  changes: ReplayedChange[];
  by_agent: Array<{ agent: string } & Tally>;
  by_policy: Array<{ policy: string } & Tally>;
}

/** How many recorded decisions would change, of every kind. */
export const changedCount = (r: Tally): number => r.allow_to_deny + r.deny_to_allow + r.to_approval + r.from_approval;

/** The policy a change is laid at: what now decides it, or, for a deny by default, the absence of any permit. */
export const NO_PERMIT = '(no policy permits)';

const tallyRows = <K extends string>(key: K, tallies: Map<string, Tally>) =>
  [...tallies].map(([name, t]) => ({ [key]: name, ...t }) as { [P in K]: string } & Tally)
    .sort((a, b) => changedCount(b) - changedCount(a) || (a[key] < b[key] ? -1 : 1));

/** Whether the recorded request held an approval (`context.approvals` named someone). */
const heldApproval = (request: AuthorizationRequest): boolean => Array.isArray(request.context.approvals) && request.context.approvals.length > 0;

/** Decides recorded requests again, one at a time (a day of decisions need not fit in memory), and reports what changed. */
export class Replay {
  readonly #engine: PolicyEngine;
  readonly #report: ReplayReport;
  readonly #hashes = new Set<string>();
  readonly #byAgent = new Map<string, Tally>();
  readonly #byPolicy = new Map<string, Tally>();

  constructor(engine: PolicyEngine, since: number) {
    this.#engine = engine;
    this.#report = {
      since: new Date(since).toISOString(), policy_set_hash: engine.hash, replayed: 0, unchanged: 0, policies_changed: 0, allow_to_deny: 0, deny_to_allow: 0,
      to_approval: 0, from_approval: 0, skipped: 0, recorded_under: [], changes: [], by_agent: [], by_policy: [],
    };
  }

  add(event: RecordedDecision): void {
    const report = this.#report;
    if (!event.request) {
      report.skipped++;
      return;
    }
    report.replayed++;
    if (event.policySetHash) this.#hashes.add(event.policySetHash);
    const before = recordedPolicyDecision(event);
    const after = this.#decide(event.request);
    if (before === after.decision) {
      if ([...event.policies].sort().join('\n') === [...after.policies].sort().join('\n')) report.unchanged++;
      else report.policies_changed++;
      return;
    }
    const change = `${before}→${after.decision}` as Change;
    report[tallyOf(change)]++;
    count(this.#byAgent, event.agent ?? '(unknown)', change);
    for (const policy of after.policies.length > 0 ? after.policies : [NO_PERMIT]) count(this.#byPolicy, policy, change);
    report.changes.push({
      seq: event.seq, time: new Date(event.time).toISOString(), person: event.person, agent: event.agent, server: event.server, method: event.method, target: event.target, change,
      recorded: { decision: before, policies: event.policies, policy_set_hash: event.policySetHash, reason: event.reason },
      replayed: after,
    });
  }

  /**
   * The candidate's answer as the gateway would act on it. A call recorded with an
   * approval held is decided as the gateway decides an approved call: without the
   * approval policies (whether the recorded approver would satisfy the candidate's
   * approvers is not known here).
   */
  #decide(request: AuthorizationRequest): ReplayedChange['replayed'] {
    const decision = decideWithApprovals(this.#engine, request);
    if (!decision.needsApproval) return { decision: decision.decision, policies: [...decision.policies], errors: [...decision.errors] };
    if (heldApproval(request)) {
      const approved = liftedEngine(this.#engine).decide(request);
      return { decision: approved.decision, policies: [...approved.policies], errors: [...approved.errors] };
    }
    return { decision: 'needs-approval', policies: [...decision.policies], errors: [], approvers: decision.needsApproval.approvers };
  }

  report(): ReplayReport {
    return { ...this.#report, recorded_under: [...this.#hashes].sort(), by_agent: tallyRows('agent', this.#byAgent), by_policy: tallyRows('policy', this.#byPolicy) };
  }
}

function count(tallies: Map<string, Tally>, key: string, change: Change): void {
  const tally = tallies.get(key) ?? { allow_to_deny: 0, deny_to_allow: 0, to_approval: 0, from_approval: 0 };
  tally[tallyOf(change)]++;
  tallies.set(key, tally);
}
