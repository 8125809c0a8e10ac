// Replay: the requests recorded with past decisions, decided again under a candidate
// set, and what would change. Each decision event carries the Cedar request exactly
// as the decision point was asked it (time, arguments and all), so the only thing
// that differs is the policy set.
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

/** What the policy set answered when the event was recorded. */
export const recordedPolicyDecision = (e: RecordedDecision): 'allow' | 'deny' => (e.decision === 'allow' || (e.reason !== null && REFUSED_AFTER_ALLOW.has(e.reason)) ? 'allow' : 'deny');

export type Change = 'allow→deny' | 'deny→allow';

export interface ReplayedChange {
  seq: number;
  time: string;
  person: string | null;
  agent: string | null;
  server: string;
  method: string | null;
  target: string | null;
  change: Change;
  recorded: { decision: 'allow' | 'deny'; policies: string[]; policy_set_hash: string | null; reason: string | null };
  replayed: { decision: 'allow' | 'deny'; policies: string[]; errors: string[] };
}

interface Tally {
  'allow→deny': number;
  'deny→allow': number;
}

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
  /** Decision events without a recorded request (recorded before requests were, or refused before Cedar was asked). */
  skipped: number;
  recorded_under: string[];
  changes: ReplayedChange[];
  by_agent: Array<{ agent: string } & { allow_to_deny: number; deny_to_allow: number }>;
  by_policy: Array<{ policy: string } & { allow_to_deny: number; deny_to_allow: number }>;
}

/** The policy a change is laid at: what now decides it, or, for a deny by default, the absence of any permit. */
export const NO_PERMIT = '(no policy permits)';

const tallyRows = <K extends string>(key: K, tallies: Map<string, Tally>) =>
  [...tallies].map(([name, t]) => ({ [key]: name, allow_to_deny: t['allow→deny'], deny_to_allow: t['deny→allow'] }) as { [P in K]: string } & { allow_to_deny: number; deny_to_allow: number })
    .sort((a, b) => b.allow_to_deny + b.deny_to_allow - (a.allow_to_deny + a.deny_to_allow) || (a[key] < b[key] ? -1 : 1));

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
      skipped: 0, recorded_under: [], changes: [], by_agent: [], by_policy: [],
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
    const after = this.#engine.decide(event.request);
    if (before === after.decision) {
      if ([...event.policies].sort().join('\n') === [...after.policies].sort().join('\n')) report.unchanged++;
      else report.policies_changed++;
      return;
    }
    const change: Change = before === 'allow' ? 'allow→deny' : 'deny→allow';
    if (change === 'allow→deny') report.allow_to_deny++;
    else report.deny_to_allow++;
    count(this.#byAgent, event.agent ?? '(unknown)', change);
    for (const policy of after.policies.length > 0 ? after.policies : [NO_PERMIT]) count(this.#byPolicy, policy, change);
    report.changes.push({
      seq: event.seq, time: new Date(event.time).toISOString(), person: event.person, agent: event.agent, server: event.server, method: event.method, target: event.target, change,
      recorded: { decision: before, policies: event.policies, policy_set_hash: event.policySetHash, reason: event.reason },
      replayed: { decision: after.decision, policies: [...after.policies], errors: [...after.errors] },
    });
  }

  report(): ReplayReport {
    return { ...this.#report, recorded_under: [...this.#hashes].sort(), by_agent: tallyRows('agent', this.#byAgent), by_policy: tallyRows('policy', this.#byPolicy) };
  }
}

function count(tallies: Map<string, Tally>, key: string, change: Change): void {
  const tally = tallies.get(key) ?? { 'allow→deny': 0, 'deny→allow': 0 };
  tally[change]++;
  tallies.set(key, tally);
}
