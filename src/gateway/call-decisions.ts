// What the gateway decides of each governed request (tools/call, resources/read,
// prompts/get), and what it records of it: the Cedar question with the task's history,
// approvals (using one of exactly this call, asking for one, holding the call for the
// decision), the call budget counted in the transaction that records the decision,
// the result recorded before the answer goes back, and what the result adds to the
// task's flow. Listings are filtered by the same policies; the preview asks the same
// question and changes nothing. Decisions record the arguments as a redacted copy
// beside their digest, and no recorded request carries an argument's secret
// (redact.ts). The transport, authentication and sessions are the gateway's (gateway.ts).
import { argumentsDigest, type AuditEvent } from '../audit/event.ts';
import type { AuditLog } from '../audit/log.ts';
import { COPY_LIMITS, redactText, redactedCopy, type SecretKind } from '../audit/redact.ts';
import { TOOL_NAME } from '../catalog/servers.ts';
import { NEW_TASK_FLOW, observe, type FlowOutcome, type FlowStep, type TaskFlow } from '../delegation/task-flow.ts';
import type { Approvals, ElicitationStep } from '../approvals/approvals.ts';
import { actionDigest, type Approval } from '../approvals/types.ts';
import { APPROVAL_REQUIRED, decideWithApprovals } from '../policy/approval-decision.ts';
import type { AuthorizationRequest, PolicyEngine } from '../policy/engine.ts';
import type { Server, Store } from '../store/types.ts';
import { askApproval, deniedRefusal, useApproval, type ApprovalAsked } from './approval-step.ts';
import { NO_ARGUMENTS, mapArguments } from './arguments.ts';
import { callCountRefusal } from './call-count.ts';
import type { AskPerson } from './person-elicitation.ts';
import { governedRequest, listingEngine, recordedRequest, scopeEntries, setReadsArguments } from './request.ts';
import type { CallerContext, Decision, GovernedMethod, GovernedRequest } from './session.ts';

export interface CallDecisionOptions {
  /** Approvals: a call a policy holds for a person's yes asks for one (without it, such a call is refused). */
  approvals?: Approvals;
  /** How long a call that needs approval is held for the decision before it is refused with the approval to ask (seconds; 0: refused at once). */
  approvalWaitSeconds?: number;
}

/** A decision made: allowed or refused (not held). */
type Verdict = Exclude<Decision, { hold: unknown }>;

/** What the preview answers: allow, deny or needs-approval, with the policies and any approval of exactly this call. */
export type PreviewAnswer = Record<string, unknown> & { decision: 'allow' | 'deny' | 'needs-approval' };

export class CallDecisions {
  readonly #store: Store;
  readonly #audit: AuditLog;
  readonly #policy: () => PolicyEngine;
  readonly #options: CallDecisionOptions;
  /** Of each decided request, the task's flow it was decided with and what its outcome adds to it. */
  readonly #flowSteps = new WeakMap<GovernedRequest, { flow: TaskFlow; step: FlowStep }>();

  constructor(store: Store, audit: AuditLog, policy: () => PolicyEngine, options: CallDecisionOptions) {
    this.#store = store;
    this.#audit = audit;
    this.#policy = policy;
    this.#options = options;
  }

  /**
   * Decides a governed request and records the decision durably before it takes
   * effect. An allowed request is counted against the mandate's budget in the same
   * transaction that records the decision: counted exactly when recorded.
   */
  async decide(server: Server, request: GovernedRequest, credentials: readonly string[], mayHold = true): Promise<Decision> {
    const now = Math.floor(Date.now() / 1000);
    const { decision, policies, policySetHash, asked: decided, approval, approvalAsked } = await this.#decide(server, request, now);
    const asked = recorded(request, decided);
    const refuse = async (refusal: { code: string }, id = approvalAsked?.approval.id): Promise<void> => {
      await this.#audit.append(requestEvent(server, request, { kind: 'decision', decision: 'deny', reason: refusal.code, outcome: 'denied', policies, policySetHash, ...asked, ...(id ? { approval: id } : {}) }, credentials));
    };
    if (approvalAsked) {
      const wait = this.#options.approvalWaitSeconds ?? 0;
      const approvals = this.#options.approvals;
      // The person whose task it is may be at the agent's MCP client: when they may decide, they are asked there too.
      const pending = approvalAsked.approval.state === 'pending';
      const ask = pending && mayHold && approvals ? await this.#askPerson(approvals, approvalAsked.approval, server, request) : null;
      if (!pending || !mayHold || wait <= 0 || !approvals) {
        await refuse(approvalAsked.refusal);
        return ask ? { ...approvalAsked.refusal, ask } : approvalAsked.refusal;
      }
      // Held for the decision; once approved, the same call is decided again and takes the approval's one use.
      return {
        ...(ask ? { ask } : {}),
        waiting: `waiting for a person's decision on approval ${approvalAsked.approval.id} (${approvals.page(approvalAsked.approval.id)})`,
        hold: async (signal) => {
          const settled = await approvals.waitForDecision(approvalAsked.approval.id, wait * 1000, signal);
          if (settled.state === 'approved' && !signal.aborted) return this.decide(server, request, credentials, false);
          const final = settled.state === 'denied'
            ? deniedRefusal(approvals, settled, `${server.name}/${request.target}`, 'call', settled.policies)
            : approvalAsked.refusal;
          await refuse(final);
          return final;
        },
      };
    }
    if (!decision.allow) {
      await refuse(decision, approval);
      return decision;
    }
    const { mandateId } = request.caller;
    let counted: Verdict = decision;
    await this.#audit.append({
      countCall: { mandateId, now },
      event: (count) => {
        if (count === 'ok') return requestEvent(server, request, { kind: 'decision', decision: 'allow', policies, policySetHash, ...asked, ...(approval ? { approval } : {}) }, credentials);
        counted = { allow: false, ...callCountRefusal(count, mandateId) };
        return requestEvent(server, request, { kind: 'decision', decision: 'deny', reason: counted.code, outcome: 'denied', policies, policySetHash, ...asked }, credentials);
      },
    });
    return counted;
  }

  /** How the person whose task it is would be asked at the agent's MCP client, when they may decide the approval; null: they may not. */
  async #askPerson(approvals: Approvals, approval: Approval, server: Server, request: GovernedRequest): Promise<AskPerson | null> {
    if (!await approvals.mayDecide(approval, request.caller.person)) return null;
    return {
      approval: approval.id,
      url: approvals.page(approval.id),
      message: `${request.caller.agents[0] ?? 'The agent'} asks to call ${server.name}/${request.target}, which needs your approval (${approval.policies.join(', ')}). Open the page, sign in and decide.`,
      record: (step: ElicitationStep) => void approvals.elicited(approval, step).catch((error: unknown) => console.error(`mandate: approval ${approval.id}: recording an elicitation step failed: ${(error as Error).message}`)),
      decided: async (signal) => (await approvals.waitForDecision(approval.id, Math.max(0, approval.expiresAt * 1000 - Date.now()), signal)).state !== 'pending',
    };
  }

  /** Folds what became of an allowed request into its task's flow (stored under the root mandate), when it adds anything. */
  async #observeFlow(request: GovernedRequest, outcome: FlowOutcome): Promise<void> {
    const decided = this.#flowSteps.get(request);
    if (!decided) return;
    // Observed on the flow the request was decided with: the store joins it with whatever others added since.
    const next = observe(decided.flow, decided.step, outcome);
    if (next !== decided.flow) await this.#store.mergeTaskFlow(request.caller.mandateId, next, Math.floor(Date.now() / 1000));
  }

  /** `asked`: what the decision records of Cedar — the request it was asked, and the shadow decision when a shadow policy could apply. */
  async #decide(server: Server, request: GovernedRequest, now: number): Promise<{
    decision: Verdict; policies: string[]; policySetHash: string; asked?: Pick<AuditEvent, 'request' | 'shadow'>; approval?: string; approvalAsked?: ApprovalAsked;
  }> {
    const { caller } = request;
    const question = await this.#question(server, request, now);
    if ('refused' in question) return question.refused;
    const { engine, asked } = question;
    const answer = decideWithApprovals(engine, asked);
    const base = { policies: answer.policies, policySetHash: answer.policySetHash, asked: { request: asked, shadow: answer.shadow } };
    if (answer.decision === 'allow') return { decision: { allow: true }, ...base };
    if (answer.needsApproval) {
      const approvals = this.#options.approvals;
      if (!approvals) return { decision: { allow: false, code: APPROVAL_REQUIRED, message: `denied: ${answer.needsApproval.policies.join(', ')} ask for approval, and this gateway takes none` }, ...base };
      const binding = this.#binding(server, request);
      // An approval of exactly this call, by someone the policies name now, lifts them for this one use.
      const held = await useApproval(approvals, engine, asked, answer.needsApproval, binding, now);
      if (held?.allowed) return { decision: { allow: true }, policies: held.policies, policySetHash: held.policySetHash, asked: { request: asked, shadow: answer.shadow }, approval: held.approval.id };
      if (held) return { decision: { allow: false, code: 'approval_insufficient', message: held.message }, ...base, approval: held.approval.id };
      const approvalAsked = await askApproval(approvals, binding, caller.person, answer.needsApproval, request.arguments ?? null, now, `${binding.server}/${binding.target}`, 'call');
      return { decision: { allow: false, code: APPROVAL_REQUIRED, message: 'denied: approval required' }, ...base, approvalAsked };
    }
    return { decision: denial(server, request, answer), ...base };
  }

  /** The Cedar request a governed request asks (with the task's history), or why it cannot be asked. */
  async #question(server: Server, request: GovernedRequest, now: number): Promise<{ engine: PolicyEngine; asked: AuthorizationRequest } | { refused: { decision: Verdict; policies: string[]; policySetHash: string } }> {
    const { caller, method, target } = request;
    const engine = this.#policy();
    const what = method === 'tools/call' ? 'tool' : method === 'prompts/get' ? 'prompt' : 'resource';
    if (method === 'resources/read' ? target.length === 0 || target.length > 2048 : !TOOL_NAME.test(target)) {
      return { refused: { decision: { allow: false, code: `invalid_${what}`, message: `denied: the ${what} name is not valid` }, policies: [], policySetHash: engine.hash } };
    }
    const tool = method === 'tools/call' ? (await this.#store.listTools(server.name)).find((t) => t.name === target) : undefined;
    // Arguments are mapped only when a policy could read them; those Mandate cannot map faithfully are refused.
    const args = setReadsArguments(engine) ? mapArguments(request.arguments) : undefined;
    if (args && !args.ok) return { refused: { decision: { allow: false, code: args.code, message: `denied: the arguments cannot be decided on: ${args.message}` }, policies: [], policySetHash: engine.hash } };
    const flow = (await this.#store.getTaskFlow(caller.mandateId)) ?? NEW_TASK_FLOW;
    const asked = governedRequest(caller, server, method, target, tool, now, args?.views, flow);
    this.#flowSteps.set(request, { flow, step: { method, call: scopeEntries(server.name, method, target).call, labels: tool?.labelled ? tool : undefined } });
    return { engine, asked };
  }

  /** The binding an approval of this exact call has: server, method, target, the arguments' digest, mandate and acting agent. */
  #binding(server: Server, request: GovernedRequest): Approval['binding'] {
    const { caller, method, target } = request;
    return { server: server.name, method, target, argumentsDigest: (request.argumentsDigest ??= argumentsDigest(request.arguments)), mandateId: caller.mandateId, agent: caller.agents[0] ?? caller.clientId };
  }

  /** Of what a listing shows, what the policy lets this caller use; tools listed are recorded as discovered. */
  async visible(server: Server, caller: CallerContext, method: GovernedMethod, targets: string[], listingStartedAt: number): Promise<Set<string>> {
    const now = Math.floor(Date.now() / 1000);
    const tools = method === 'tools/call'
      ? new Map((await this.#store.discoverTools(server.name, targets.filter((t) => TOOL_NAME.test(t)), now, listingStartedAt)).map((t) => [t.name, t]))
      : new Map();
    const engine = this.#policy();
    const listing = listingEngine(engine);
    const args = setReadsArguments(engine) ? NO_ARGUMENTS : undefined;
    return new Set(targets.filter((target) => listing.decide(governedRequest(caller, server, method, target, tools.get(target), now, args)).decision === 'allow'));
  }

  /**
   * Records the result of an allowed request before its answer goes back, then folds
   * what flowed into the task: the agent's next call is decided with it.
   */
  async recordResult(server: Server, request: GovernedRequest, outcome: 'ok' | 'error' | 'denied', detail: { secrets: SecretKind[]; reason?: string; rpcError?: boolean }, credentials: readonly string[]): Promise<void> {
    const { secrets, reason, rpcError } = detail;
    await this.#audit.append(requestEvent(server, request, {
      kind: 'result', decision: 'allow', outcome, ...(reason ? { reason } : {}), ...(secrets.length > 0 ? { secrets } : {}),
    }, credentials));
    await this.#observeFlow(request, outcome === 'denied' ? 'failed' : rpcError ? 'error' : 'ok');
  }

  /** What the call would be decided, as it would be, with nothing counted, asked for, used or sent upstream. */
  async preview(server: Server, request: GovernedRequest): Promise<PreviewAnswer> {
    const seconds = Math.floor(Date.now() / 1000);
    const question = await this.#question(server, request, seconds);
    if ('refused' in question) {
      const { decision } = question.refused;
      return { decision: 'deny', ...(decision.allow ? {} : { code: decision.code, reason: decision.message }), policies: [], policy_set_hash: question.refused.policySetHash };
    }
    const answer = decideWithApprovals(question.engine, question.asked);
    const shown = { policies: answer.policies, policy_set_hash: answer.policySetHash };
    if (answer.decision === 'allow') return { decision: 'allow', ...shown };
    if (!answer.needsApproval) {
      const refused = denial(server, request, answer);
      return { decision: 'deny', code: refused.code, reason: refused.message, ...shown };
    }
    // An approval of exactly this call, as it stands: given and usable, waiting for a person, or denied a moment ago.
    const approvals = this.#options.approvals;
    const known = await approvals?.standing(actionDigest(this.#binding(server, request)), seconds) ?? null;
    const approval = known && approvals ? { id: known.id, state: known.state, url: approvals.url(known.id), page: approvals.page(known.id) } : null;
    if (known?.state === 'denied' && approvals) {
      const refused = deniedRefusal(approvals, known, `${server.name}/${request.target}`, 'call', answer.needsApproval.policies);
      return { decision: 'deny', code: refused.code, reason: refused.message, ...shown, policies: answer.needsApproval.policies, approval };
    }
    return {
      decision: 'needs-approval', code: APPROVAL_REQUIRED, approvers: answer.needsApproval.approvers, ...shown, policies: answer.needsApproval.policies, approval,
    };
  }
}

/** An audit event of the gateway, the fields it does not set empty. */
export function auditEvent(fields: Partial<AuditEvent> & Pick<AuditEvent, 'kind' | 'server'>): AuditEvent {
  return {
    time: Date.now(), person: null, agents: [], mandate: null, purpose: null, method: null, tool: null, argumentsDigest: null, decision: null,
    reason: null, policies: [], policySetHash: null, outcome: null, latencyMs: null, ...fields,
  };
}

/** An audit event of a governed request: who, under which mandate, what, and the arguments' digest. */
export function requestEvent(server: Server, request: GovernedRequest, fields: Partial<AuditEvent> & Pick<AuditEvent, 'kind'>, credentials: readonly string[] = []): AuditEvent {
  const { caller } = request;
  // A resource URI may carry credentials (`postgres://app:…@db/orders`).
  const tool = request.method === 'resources/read' ? redactText(request.target).text : request.target;
  return auditEvent({
    server: server.name, person: caller.person, agents: caller.agents, mandate: caller.mandateId, purpose: caller.purpose,
    method: request.method, tool, argumentsDigest: (request.argumentsDigest ??= argumentsDigest(request.arguments)),
    latencyMs: fields.kind === 'result' ? Math.round((performance.now() - request.started) * 1000) / 1000 : null,
    ...(credentials.length > 0 ? { credentials: [...credentials] } : {}), ...fields,
  });
}

/** Why Cedar denied a governed request, as the agent is told: its stable code and the reason. */
function denial(server: Server, request: GovernedRequest, answer: { policies: string[]; errors: string[] }): { allow: false; code: string; message: string } {
  const { caller, method, target } = request;
  const what = method === 'tools/call' ? 'tool' : method === 'prompts/get' ? 'prompt' : 'resource';
  const { call, kindWildcard } = scopeEntries(server.name, method, target);
  const inScope = [call, kindWildcard, `${server.name}/*`].some((entry) => caller.scope.includes(entry));
  const named = method === 'resources/read' ? `${server.name} resource ${target}` : `${call}`;
  const [code, why] = answer.errors.length > 0 ? ['decision_failed', `the policy could not be evaluated (${answer.errors.join('; ')})`]
    : answer.policies.length > 0 ? ['forbidden_by_policy', `forbidden by ${answer.policies.join(', ')}`]
    : inScope && method === 'tools/call' ? ['tool_added_after_grant', `${call} appeared after mandate ${caller.mandateId} was granted`]
    : [`${what}_outside_scope`, `${named} is outside the scope of mandate ${caller.mandateId}`];
  return { allow: false, code, message: `denied: ${why}` };
}

/**
 * What a decision event records of the request beyond its digest: the arguments as a
 * redacted, bounded copy; the Cedar request with its argument values redacted (the
 * decision was made on the request itself); the kinds of secret taken out of either.
 */
function recorded(request: GovernedRequest, asked?: Pick<AuditEvent, 'request' | 'shadow'>): Pick<AuditEvent, 'arguments' | 'request' | 'shadow' | 'secrets'> {
  const fields: Pick<AuditEvent, 'arguments' | 'request' | 'shadow' | 'secrets'> = {};
  const found = new Set<SecretKind>();
  if (request.arguments !== undefined) {
    const copy = redactedCopy(request.arguments, COPY_LIMITS);
    fields.arguments = copy.value;
    for (const kind of copy.found) found.add(kind);
  }
  if (asked?.request) {
    const kept = recordedRequest(asked.request);
    fields.request = kept.request;
    for (const kind of kept.found) found.add(kind);
  }
  if (asked?.shadow) fields.shadow = asked.shadow;
  if (found.size > 0) fields.secrets = [...found].sort();
  return fields;
}
