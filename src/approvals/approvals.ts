// Approvals: the service the gateway asks when a policy says a call needs a person's
// yes, and the one people decide through (REST, CLI). docs/approvals.md tells the
// whole story; the gateway calls exactly this:
//
//   request({ binding, initiator, approvers, policies, preview }, now) → { approval, created }
//       The pending approval of that exact action (its digest over the binding), or a
//       new one: recorded (`approval/request`) and notified (webhook `approval.requested`).
//       Within the quiet period after a denial of that action, that denied approval
//       instead: nobody is asked again (quietUntil(approval) says until when).
//       Call consume first: an approved approval is not "pending" and is not returned here.
//   consume(digest, now) → Approval | null
//       Takes one use of an approved approval of that digest, within its window (or its
//       repeat period, under its uses), recorded as `approval/use`; null: nothing to use.
//   waitForDecision(id, timeoutMs, signal?) → Approval
//       Resolves with the approval as it is once it was decided or expired, or when the
//       time is up or `signal` aborts (then usually still pending). No polling: deciding
//       in this process wakes the waiters. (Another replica's decision is seen at the
//       timeout only.)
//   get(id, now) → Approval | null;  url(id) → `<public URL>/api/v1/approvals/<id>`;
//   page(id) → `<public URL>/approve/<id>`, where a person decides it in a browser
//   approvedBy(approval) → the person id who approved it (for the policy context)
//
// People decide with approve(caller, id, {forSeconds, maxUses, note}, now) and
// deny(caller, id, {note}, now). Who may: a person who matches one entry of every list
// in `approvers` (owner: the agent's owner; sponsor: the agent's sponsor; initiator: the
// person whose mandate it is; group:<name>: a member of the group). An agent never may.
// The admin credential may deny but never approve: an approval is a person's yes.
// Times are whole seconds, as everywhere in the store.
import { EventEmitter } from 'node:events';
import type { AuditEvent } from '../audit/event.ts';
import type { AuditLog } from '../audit/log.ts';
import { redactedCopy } from '../audit/redact.ts';
import { MandateError, badRequest, forbidden, notFound } from '../errors.ts';
import { describeCaller, type Caller } from '../identity/caller.ts';
import { nowSeconds } from '../lib/clock.ts';
import { newId } from '../lib/ids.ts';
import type { Agent, ApprovalUse, Person, Store } from '../store/types.ts';
import { approvalJson, type ApprovalJson } from './approval-json.ts';
import { describeApprovers, unmet } from './eligibility.ts';
import { actionDigest, isApproverSpec, type ActionBinding, type Approval, type ApprovalFilter, type ApproverSpec } from './types.ts';
import { ApprovalWebhook, type ApprovalEventType, type DeliveryOutcome } from './webhook.ts';

export const APPROVAL_ID_PREFIX = 'apr';

/** A step of asking the person at the MCP client: sent, or the client's answer (its action, or an error). */
export type ElicitationStep = 'sent' | 'accept' | 'decline' | 'cancel' | 'error';

/** What the gateway asks an approval for. */
export interface ApprovalRequest {
  binding: ActionBinding;
  /** The person whose authority it is: the mandate's root grantor. */
  initiator: string;
  /** One list of alternatives per determining policy; the approving person must match one entry of every list. */
  approvers: ApproverSpec[][];
  /** The policies that asked for it. */
  policies: string[];
  /** A readable copy of the arguments; redacted and bounded again here, so no secret is ever kept or sent. */
  preview: unknown;
}

export interface ApproveOptions {
  /** "Approve this and identical calls for N seconds" (at most the configured cap). */
  forSeconds?: number | undefined;
  /** How many identical calls it allows (default 1, or the cap when `forSeconds` is given). */
  maxUses?: number | undefined;
  note?: string | undefined;
}

export interface ApprovalsOptions {
  publicUrl: string;
  /** Once approved, how long the call may be made (seconds). */
  window: number;
  /** A pending approval expires after this long (seconds). */
  ttl: number;
  /** The cap of `forSeconds`. */
  maxRepeat: number;
  /** The cap of `maxUses`. */
  maxUses: number;
  /** After a denial, how long `request` answers with that denial instead of asking again (seconds; 0 or absent: it asks again). */
  denialQuiet?: number;
  webhook?: { url: string; secret: string; backoffMs: number } | null;
}

const MAX_NOTE = 1000;

/** A pending approval past its expiry is expired even before the sweep has marked it. */
export function effectiveApproval(approval: Approval, now: number): Approval {
  return approval.state === 'pending' && approval.expiresAt <= now ? { ...approval, state: 'expired' } : approval;
}

/** The person who approved it (`decidedBy` is `person <id>`), or null. */
export function approvedBy(approval: Approval): string | null {
  return approval.state !== 'denied' && approval.decidedBy?.startsWith('person ') ? approval.decidedBy.slice('person '.length) : null;
}

export class Approvals {
  readonly #store: Store;
  readonly #audit: AuditLog;
  readonly #options: ApprovalsOptions;
  readonly #webhook: ApprovalWebhook | null;
  /** Approvals decided or expired in this process, by id: what wakes waitForDecision. */
  readonly #changes = new EventEmitter().setMaxListeners(0);
  readonly #waiting = new Set<() => void>();
  #sweeper: NodeJS.Timeout | null = null;

  constructor(store: Store, audit: AuditLog, options: ApprovalsOptions) {
    this.#store = store;
    this.#audit = audit;
    this.#options = options;
    this.#webhook = options.webhook ? new ApprovalWebhook(options.webhook, (id, outcome) => this.#notified(id, outcome)) : null;
  }

  url(id: string): string {
    return `${this.#options.publicUrl}/api/v1/approvals/${encodeURIComponent(id)}`;
  }

  /** Where a person sees and decides it in a browser (src/api/approval-page.ts). */
  page(id: string): string {
    return `${this.#options.publicUrl}/approve/${encodeURIComponent(id)}`;
  }

  async request(input: ApprovalRequest, now: number): Promise<{ approval: Approval; created: boolean }> {
    assertRequest(input);
    const binding: ActionBinding = {
      server: input.binding.server, method: input.binding.method, target: input.binding.target, argumentsDigest: input.binding.argumentsDigest,
      mandateId: input.binding.mandateId, agent: input.binding.agent,
    };
    const digest = actionDigest(binding);
    const pending = await this.#store.findPendingApproval(digest, now);
    if (pending) return { approval: pending, created: false };
    const denied = await this.#recentDenial(digest, now);
    if (denied) return { approval: denied, created: false };
    const approval: Approval = {
      id: newId(APPROVAL_ID_PREFIX), digest, binding, initiator: input.initiator, approvers: input.approvers.map((list) => [...list]), policies: [...input.policies],
      preview: redactedCopy(input.preview ?? null).value, state: 'pending', createdAt: now, expiresAt: now + this.#options.ttl, decidedAt: null, decidedBy: null,
      note: null, usableUntil: null, repeatUntil: null, maxUses: 1, uses: 0, usedAt: null,
    };
    try {
      await this.#store.createApproval(approval);
    } catch (error) {
      if (!(error instanceof MandateError && error.code === 'approval_exists')) throw error;
      // Another request for the same action got there first, or one past its expiry
      // still stands in the way until it is marked expired.
      await this.expire(now);
      const again = await this.#store.findPendingApproval(digest, now);
      if (again) return { approval: again, created: false };
      await this.#store.createApproval(approval);
    }
    await this.#record('approval/request', approval, { caller: `agent ${binding.agent}`, person: approval.initiator, arguments: approval.preview });
    this.#notify('approval.requested', approval);
    return { approval, created: true };
  }

  /** Until when a denial keeps the same action from being asked again (its decision time plus the quiet period). */
  quietUntil(approval: Approval): number {
    return (approval.decidedAt ?? approval.createdAt) + (this.#options.denialQuiet ?? 0);
  }

  /** A denial of this exact action within the quiet period: asking again would only ask the same people the same thing. */
  async #recentDenial(digest: string, now: number): Promise<Approval | null> {
    const quiet = this.#options.denialQuiet ?? 0;
    return quiet > 0 ? this.#store.findDeniedApproval(digest, now - quiet) : null;
  }

  async consume(digest: string, now: number): Promise<Approval | null> {
    const used = await this.#store.consumeApproval(digest, now);
    if (!used) return null;
    await this.#record('approval/use', used, { caller: `agent ${used.binding.agent}`, person: used.initiator, note: `use ${used.uses} of ${used.maxUses}` });
    return used;
  }

  async get(id: string, now: number): Promise<Approval | null> {
    const approval = await this.#store.getApproval(id);
    return approval ? effectiveApproval(approval, now) : null;
  }

  waitForDecision(id: string, timeoutMs: number, signal?: AbortSignal): Promise<Approval> {
    return new Promise<Approval>((resolve, reject) => {
      let done = false;
      const finish = (known?: Approval): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.#changes.off(id, changed);
        signal?.removeEventListener('abort', onAbort);
        this.#waiting.delete(onAbort);
        if (known) resolve(known);
        else this.get(id, nowSeconds()).then((current) => (current ? resolve(current) : reject(notFound('approval_not_found', `no approval with id ${id}`))), reject);
      };
      const changed = (approval: Approval): void => finish(approval);
      const onAbort = (): void => finish();
      let timer = setTimeout(onAbort, Math.max(0, timeoutMs));
      this.#changes.on(id, changed);
      this.#waiting.add(onAbort);
      if (signal?.aborted) return finish();
      signal?.addEventListener('abort', onAbort, { once: true });
      // Listening first, then reading: a decision in between is not missed.
      this.get(id, nowSeconds()).then((current) => {
        if (!current) return finish();
        if (current.state !== 'pending') return finish(current);
        // Wake at the approval's expiry when that comes before the timeout.
        const untilExpiry = (current.expiresAt - nowSeconds()) * 1000;
        if (untilExpiry < timeoutMs && !done) {
          clearTimeout(timer);
          timer = setTimeout(onAbort, Math.max(0, untilExpiry));
        }
      }, (error: unknown) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.#changes.off(id, changed);
        this.#waiting.delete(onAbort);
        reject(error as Error);
      });
    });
  }

  async approve(caller: Caller, id: string, options: ApproveOptions, now: number): Promise<Approval> {
    const approval = await this.#approval(id);
    if (caller.kind === 'admin') {
      await this.#refused('approval/approve', approval, caller, 'admin_cannot_approve');
      throw forbidden('admin_cannot_approve', 'the admin credential may deny an approval but never approve one: an approval is a person\'s yes (sign in as an eligible person)');
    }
    const person = await this.#decider(caller, approval, 'approval/approve');
    const use = this.#use(options, now);
    const note = noteOf(options.note);
    return this.#decided(await this.#store.decideApproval(id, 'approved', describeCaller(caller), note, now, use), id, caller, person, 'approval/approve', now);
  }

  async deny(caller: Caller, id: string, options: { note?: string | undefined }, now: number): Promise<Approval> {
    const approval = await this.#approval(id);
    const person = caller.kind === 'admin' ? null : await this.#decider(caller, approval, 'approval/deny');
    const note = noteOf(options.note);
    const unused: ApprovalUse = { usableUntil: now, repeatUntil: null, maxUses: approval.maxUses };
    return this.#decided(await this.#store.decideApproval(id, 'denied', describeCaller(caller), note, now, unused), id, caller, person, 'approval/deny', now);
  }

  /** The admin sees every approval; a person those they may decide or initiated; an agent those of its own calls. */
  async list(caller: Caller, filter: ApprovalFilter, now: number): Promise<Approval[]> {
    const limit = filter.limit ?? 100;
    const stored = await this.#store.listApprovals({ ...filter, limit: caller.kind === 'admin' ? limit : 1000 });
    const visible: Approval[] = [];
    const agents = new Map<string, Promise<Agent | null>>();
    const groups = caller.kind === 'person' ? new Set(await this.#store.groupsOf(caller.person.id)) : new Set<string>();
    for (const approval of stored) {
      if (visible.length >= limit) break;
      if (caller.kind === 'agent' && approval.binding.agent !== caller.agent.spiffeId) continue;
      if (caller.kind === 'person') {
        if (!agents.has(approval.binding.agent)) agents.set(approval.binding.agent, this.#store.getAgentBySpiffeId(approval.binding.agent));
        const agent = await agents.get(approval.binding.agent) ?? null;
        if (approval.initiator !== caller.person.id && unmet(approval, caller.person, agent, groups).length > 0) continue;
      }
      const shown = effectiveApproval(approval, now);
      if (filter.state === undefined || shown.state === filter.state) visible.push(shown);
    }
    return visible;
  }

  /** One approval, to whoever list() would show it (to anyone else it does not exist). */
  async show(caller: Caller, id: string, now: number): Promise<Approval> {
    const approval = await this.#approval(id);
    if (caller.kind === 'agent' && approval.binding.agent === caller.agent.spiffeId) return effectiveApproval(approval, now);
    if (caller.kind === 'admin') return effectiveApproval(approval, now);
    if (caller.kind === 'person') {
      if (approval.initiator === caller.person.id) return effectiveApproval(approval, now);
      const agent = await this.#store.getAgentBySpiffeId(approval.binding.agent);
      if (unmet(approval, caller.person, agent, new Set(await this.#store.groupsOf(caller.person.id))).length === 0) return effectiveApproval(approval, now);
    }
    throw notFound('approval_not_found', `no approval with id ${id}`);
  }

  /** The sweep: what can no longer be decided or used ends (expired, or used when used at least once), recorded. */
  async expire(now: number): Promise<Approval[]> {
    const ended = await this.#store.expireApprovals(now);
    await Promise.all(ended.map((approval) => this.#record('approval/expire', approval, {
      caller: 'system', person: approval.initiator,
      note: approval.decidedAt === null ? 'not decided in time' : approval.uses > 0 ? `its window ended after ${approval.uses} of ${approval.maxUses} uses` : 'approved, never used in time',
    })));
    for (const approval of ended) this.#changes.emit(approval.id, approval);
    return ended;
  }

  /** Runs the sweep every `intervalMs` until close(). */
  startSweeper(intervalMs: number): void {
    if (this.#sweeper) return;
    this.#sweeper = setInterval(() => {
      this.expire(nowSeconds()).catch((error: unknown) => console.error('mandate: approval expiry sweep failed:', (error as Error).message));
    }, intervalMs);
    this.#sweeper.unref();
  }

  /** Resolves once every notification under way has ended (delivered or given up). */
  async notificationsIdle(): Promise<void> {
    await this.#webhook?.idle();
  }

  /**
   * The approval of exactly this action as it stands, changing nothing: one that could
   * be used now, else the one waiting for a decision, else a denial still in its quiet
   * period; null: none.
   */
  async standing(digest: string, now: number): Promise<Approval | null> {
    return (await this.#store.findUsableApproval(digest, now)) ?? (await this.#store.findPendingApproval(digest, now)) ?? this.#recentDenial(digest, now);
  }

  /**
   * Whether the person who approved `approval` matches one entry of every list of
   * `approvers` — the policies' approvers as the call is decided now, which may have
   * changed since it was asked for.
   */
  async satisfies(approval: Approval, approvers: ApproverSpec[][]): Promise<boolean> {
    const by = approvedBy(approval);
    return by !== null && await this.#matches({ ...approval, approvers }, by);
  }

  /** Whether this person, as they stand now, may decide it (for asking them directly, not for deciding: approve and deny check again). */
  mayDecide(approval: Approval, personId: string): Promise<boolean> {
    return this.#matches(approval, personId);
  }

  /** Who may approve, readably: "the agent's owner (alice), and a member of group security". */
  async describeApprovers(approval: Approval): Promise<string> {
    return describeApprovers(approval.approvers, approval, await this.#store.getAgentBySpiffeId(approval.binding.agent));
  }

  /** The approval as the control plane answers it and a webhook delivers it, with where it is in the API and where it is decided. */
  json(approval: Approval): ApprovalJson {
    return approvalJson(approval, this.url(approval.id), this.page(approval.id));
  }

  async close(): Promise<void> {
    if (this.#sweeper) clearInterval(this.#sweeper);
    this.#sweeper = null;
    for (const wake of [...this.#waiting]) wake();
    await this.#webhook?.close();
  }

  /** Whether the person (by id) exists and matches one entry of every list of the approval's approvers. */
  async #matches(approval: Approval, personId: string): Promise<boolean> {
    const person = await this.#store.getPerson(personId);
    if (!person) return false;
    const agent = await this.#store.getAgentBySpiffeId(approval.binding.agent);
    return unmet(approval, person, agent, new Set(await this.#store.groupsOf(person.id))).length === 0;
  }

  async #approval(id: string): Promise<Approval> {
    const approval = await this.#store.getApproval(id);
    if (!approval) throw notFound('approval_not_found', `no approval with id ${id}`);
    return approval;
  }

  /** The person deciding, when they may; otherwise the refusal is recorded and thrown. */
  async #decider(caller: Caller, approval: Approval, method: 'approval/approve' | 'approval/deny'): Promise<Person> {
    if (caller.kind === 'agent') {
      await this.#refused(method, approval, caller, 'approver_not_eligible');
      throw forbidden('approver_not_eligible', `an agent can never ${method === 'approval/approve' ? 'approve' : 'deny'} an approval (${caller.agent.spiffeId} asked); a person must`);
    }
    if (caller.kind !== 'person') throw new MandateError('approver_not_eligible', 'only a person may decide', { status: 403 });
    const agent = await this.#store.getAgentBySpiffeId(approval.binding.agent);
    const needed = unmet(approval, caller.person, agent, new Set(await this.#store.groupsOf(caller.person.id)));
    if (needed.length === 0) return caller.person;
    await this.#refused(method, approval, caller, 'approver_not_eligible');
    throw forbidden('approver_not_eligible', `${caller.person.id} may not decide approval ${approval.id}: it needs ${describeApprovers(needed, approval, agent)}`);
  }

  #use(options: ApproveOptions, now: number): ApprovalUse {
    const { forSeconds, maxUses } = options;
    if (forSeconds !== undefined) {
      if (!Number.isInteger(forSeconds) || forSeconds <= 0) throw badRequest('invalid_for', '"for" is a positive whole number of seconds or a duration such as 10m');
      if (forSeconds > this.#options.maxRepeat) throw badRequest('approval_for_too_long', `an approval may cover identical calls for at most ${this.#options.maxRepeat} seconds (MANDATE_APPROVAL_MAX_REPEAT)`);
    }
    if (maxUses !== undefined) {
      if (!Number.isInteger(maxUses) || maxUses <= 0) throw badRequest('invalid_max_uses', 'max uses is a positive whole number');
      if (maxUses > this.#options.maxUses) throw badRequest('approval_max_uses_too_high', `an approval may allow at most ${this.#options.maxUses} uses (MANDATE_APPROVAL_MAX_USES)`);
    }
    const window = now + this.#options.window;
    return forSeconds === undefined
      ? { usableUntil: window, repeatUntil: null, maxUses: maxUses ?? 1 }
      : { usableUntil: Math.min(window, now + forSeconds), repeatUntil: now + forSeconds, maxUses: maxUses ?? this.#options.maxUses };
  }

  async #decided(result: Awaited<ReturnType<Store['decideApproval']>>, id: string, caller: Caller, person: Person | null, method: 'approval/approve' | 'approval/deny', now: number): Promise<Approval> {
    if (!result.ok) {
      if (result.reason === 'not_found' || !result.approval) throw notFound('approval_not_found', `no approval with id ${id}`);
      if (result.reason === 'expired') {
        await this.#record('approval/expire', result.approval, { caller: 'system', person: result.approval.initiator, note: 'not decided in time' });
        this.#changes.emit(id, result.approval);
        throw new MandateError('approval_expired', `approval ${id} expired at ${new Date(result.approval.expiresAt * 1000).toISOString()} before anyone decided it; the call must ask again`, { status: 409 });
      }
      const state = effectiveApproval(result.approval, now).state;
      throw new MandateError(state === 'expired' ? 'approval_expired' : 'approval_not_pending', `approval ${id} is already ${state}${result.approval.decidedBy ? ` (decided by ${result.approval.decidedBy})` : ''}: a decision is final`, { status: 409 });
    }
    const approval = result.approval;
    await this.#record(method, approval, { caller: describeCaller(caller), person: person?.id ?? null, ...(approval.note === null ? {} : { note: approval.note }) });
    this.#changes.emit(id, approval);
    this.#notify('approval.decided', approval);
    return approval;
  }

  async #refused(method: 'approval/approve' | 'approval/deny', approval: Approval, caller: Caller, reason: string): Promise<void> {
    await this.#record(method, approval, { caller: describeCaller(caller), person: caller.kind === 'person' ? caller.person.id : null, outcome: 'denied', reason });
  }

  #notify(type: ApprovalEventType, approval: Approval): void {
    this.#webhook?.send(type, approval.id, this.json(approval));
  }

  /**
   * Records a step of asking the person at the agent's MCP client (URL-mode
   * elicitation): `sent`, or the client's answer. The answer is the client's, not a
   * decision: an agent never decides.
   */
  async elicited(approval: Approval, step: ElicitationStep): Promise<void> {
    const note = step === 'sent' ? 'elicitation: the approval page was sent to the agent\'s MCP client (URL mode)'
      : step === 'error' ? 'elicitation: the MCP client could not show the approval page'
        : `elicitation: the MCP client answered ${step}${step === 'accept' ? ' (its person went to the page)' : ' (the call is no longer held)'}`;
    await this.#record('approval/notify', approval, {
      caller: step === 'sent' ? 'system' : `agent ${approval.binding.agent}`, person: approval.initiator,
      outcome: step === 'error' ? 'error' : 'ok', reason: step === 'error' ? 'elicitation_failed' : null, note,
    });
  }

  async #notified(id: string, delivery: DeliveryOutcome): Promise<void> {
    const approval = await this.#store.getApproval(id);
    if (!approval) return;
    await this.#record('approval/notify', approval, {
      caller: 'system', person: approval.initiator, outcome: delivery.outcome, reason: delivery.reason, note: `${delivery.type} ${delivery.messageId} ${delivery.note}`,
    });
  }

  async #record(method: string, approval: Approval, fields: { caller: string; person: string | null; outcome?: AuditEvent['outcome']; reason?: string | null; note?: string; arguments?: unknown }): Promise<void> {
    const { binding } = approval;
    await this.#audit.append({
      kind: 'approval', time: Date.now(), server: binding.server, person: fields.person, agents: [binding.agent], mandate: binding.mandateId, purpose: null, method,
      tool: binding.target, argumentsDigest: binding.argumentsDigest, decision: null, reason: fields.reason ?? null, policies: approval.policies, policySetHash: null,
      outcome: fields.outcome ?? 'ok', latencyMs: null, caller: fields.caller, approval: approval.id, actionDigest: approval.digest,
      ...(fields.note === undefined ? {} : { note: fields.note }), ...(fields.arguments === undefined ? {} : { arguments: fields.arguments }),
    });
  }
}

function noteOf(note: string | undefined): string | null {
  const trimmed = note?.trim() ?? '';
  if (trimmed.length > MAX_NOTE) throw badRequest('invalid_note', `a note is at most ${MAX_NOTE} characters`);
  return trimmed === '' ? null : trimmed;
}

function assertRequest(input: ApprovalRequest): void {
  const b = input.binding;
  for (const [name, value] of Object.entries({ server: b.server, method: b.method, target: b.target, argumentsDigest: b.argumentsDigest, mandateId: b.mandateId, agent: b.agent, initiator: input.initiator })) {
    if (typeof value !== 'string' || value.length === 0) throw badRequest('approval_invalid', `an approval needs ${name}`);
  }
  if (!Array.isArray(input.approvers) || input.approvers.length === 0 || input.approvers.some((list) => !Array.isArray(list) || list.length === 0 || !list.every((spec) => typeof spec === 'string' && isApproverSpec(spec)))) {
    throw badRequest('approval_invalid', `an approval needs approvers: one non-empty list per policy of owner, sponsor, initiator or group:<name>, got ${JSON.stringify(input.approvers)}`);
  }
  if (!Array.isArray(input.policies) || !input.policies.every((p) => typeof p === 'string')) throw badRequest('approval_invalid', 'an approval names the policies that asked for it');
}
