// /mcp/<server>: the MCP gateway. Every HTTP request is authenticated (DPoP-bound
// task token for exactly this resource), the mandate behind it must still stand,
// and the session it belongs to must be the same agent's under the same mandate.
// The agent's token never goes upstream: the upstream connection has none.
// Decisions record the arguments as a redacted copy beside their digest, and no
// recorded request carries an argument's secret (redact.ts). When the server has
// credentials, each is decided (`credential/use`) and unsealed as the session opens,
// and injected into its upstream; a refusal refuses the session, and the events of
// its requests name the credentials by id. A session ends, its upstream with it, when
// its authority does (endSessions): its mandate ended, its agent (or one that delegated
// to it) stopped, a credential it was given removed or replaced.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { MandateError, badRequest } from '../errors.ts';
import { argumentsDigest, type AuditEvent } from '../audit/event.ts';
import type { AuditLog } from '../audit/log.ts';
import { COPY_LIMITS, redactText, redactedCopy, type SecretKind } from '../audit/redact.ts';
import { TOOL_NAME } from '../catalog/servers.ts';
import type { ReplayCache } from '../identity/replay-cache.ts';
import type { CredentialBroker, CredentialUse } from '../credentials/broker.ts';
import type { TokenService } from '../identity/tokens.ts';
import { NEW_TASK_FLOW, observe, type FlowOutcome, type FlowStep, type TaskFlow } from '../delegation/task-flow.ts';
import type { Approvals, ElicitationStep } from '../approvals/approvals.ts';
import { actionDigest, type Approval } from '../approvals/types.ts';
import { APPROVAL_REQUIRED, decideWithApprovals } from '../policy/approval-decision.ts';
import { askApproval, deniedRefusal, useApproval, type ApprovalAsked } from './approval-step.ts';
import type { AuthorizationRequest, PolicyEngine } from '../policy/engine.ts';
import { callCountRefusal } from './call-count.ts';
import type { Server, Store } from '../store/types.ts';
import { challenge } from './protected-resource.ts';
import { NO_ARGUMENTS, mapArguments } from './arguments.ts';
import { governedRequest, listingEngine, recordedRequest, scopeEntries, setReadsArguments } from './request.ts';
import type { AskPerson } from './person-elicitation.ts';
import { SessionEndings, type SessionEnding, type SessionOwner, type SessionSelector } from './session-endings.ts';
import { GATEWAY_DENIED, GatewaySession, type CallerContext, type Decision, type GovernedMethod, type GovernedRequest } from './session.ts';
import { TransportError, checkPostHeaders, parseMessages, protocolVersion, sendRpcError } from './streamable-http.ts';
import { TaskCallerRefused, taskCaller } from './task-caller.ts';
import { openUpstream } from './upstream.ts';

export interface GatewayOptions {
  publicUrl: string;
  dpopMaxAge: number;
  notBefore: number;
  /** A session that has sent nothing for this long, with no request open, is ended (and its upstream stopped). */
  sessionIdleSeconds?: number;
  /** A tool's reply carrying a secret reaches the agent as a refusal instead (default: it passes, and the secret's kind is recorded). */
  blockSecretReplies?: boolean;
  /** The credential broker: the servers' credentials are injected into their upstreams (none without it). */
  credentials?: CredentialBroker;
  /** Approvals: a call a policy holds for a person's yes asks for one (without it, such a call is refused). */
  approvals?: Approvals;
  /** How long a call that needs approval is held for the decision before it is refused with the approval to ask (seconds; 0: refused at once). */
  approvalWaitSeconds?: number;
  /** How often a held call that asked for progress is told it still waits (seconds; default 15). */
  approvalProgressSeconds?: number;
}

/** A decision made: allowed or refused (not held). */
type Verdict = Exclude<Decision, { hold: unknown }>;


const DEFAULT_SESSION_IDLE_SECONDS = 15 * 60;

const MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers }).end(JSON.stringify(body));
}

function readJsonBody(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_MESSAGE_BYTES) {
        req.removeAllListeners('data').resume();
        reject(new TransportError(413, -32000, `an MCP message may be at most ${MAX_MESSAGE_BYTES} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.once('error', reject);
    req.once('end', () => {
      try {
        resolve(JSON.parse((chunks.length === 1 ? chunks[0] as Buffer : Buffer.concat(chunks)).toString('utf8')));
      } catch {
        reject(new TransportError(400, -32700, 'Parse error: the body is not valid JSON'));
      }
    });
  });
}

export class Gateway {
  readonly #store: Store;
  readonly #tokens: TokenService;
  readonly #replay: ReplayCache;
  readonly #audit: AuditLog;
  readonly #policy: () => PolicyEngine;
  readonly #options: GatewayOptions;
  readonly #sessions = new Map<string, GatewaySession>();
  readonly #owners = new WeakMap<GatewaySession, SessionOwner>();
  /** Of each decided request, the task's flow it was decided with and what its outcome adds to it. */
  readonly #flowSteps = new WeakMap<GovernedRequest, { flow: TaskFlow; step: FlowStep }>();
  /** What ended, so a session opened meanwhile is checked against it (a request notes the revision when it starts). */
  readonly #endings = new SessionEndings();
  readonly #reaper: NodeJS.Timeout;
  /** Whether tool replies carrying a secret are withheld; from the options, and may be switched while running. */
  blockSecretReplies: boolean;

  constructor(store: Store, tokens: TokenService, replay: ReplayCache, audit: AuditLog, policy: () => PolicyEngine, options: GatewayOptions) {
    this.#store = store;
    this.#tokens = tokens;
    this.#replay = replay;
    this.#audit = audit;
    this.#policy = policy;
    this.#options = options;
    this.blockSecretReplies = options.blockSecretReplies ?? false;
    const idle = (options.sessionIdleSeconds ?? DEFAULT_SESSION_IDLE_SECONDS) * 1000;
    this.#reaper = setInterval(() => this.#reap(idle), Math.min(60_000, idle)).unref();
  }

  /** Ends sessions idle for longer than `idleMs` with nothing in flight. */
  #reap(idleMs: number): void {
    const now = performance.now();
    for (const session of this.#sessions.values()) {
      if (now - session.lastActive > idleMs && session.channel.openRequests.length === 0) void session.close('the session was idle for too long');
    }
  }

  get sessionCount(): number {
    return this.#sessions.size;
  }

  /**
   * Ends every open session the selector names, stopping its upstream (a stdio
   * process), its agent's open requests answered with the ending's message; a session
   * still being opened under the same authority is refused once it is. Resolves when
   * they are closed; answers how many were.
   */
  async endSessions(selector: SessionSelector, ending: SessionEnding): Promise<number> {
    const matches = this.#endings.add(selector, ending);
    const ended = [...this.#sessions.values()].flatMap((session) => {
      const owner = this.#owners.get(session);
      return owner !== undefined && matches(owner) ? [{ session, owner }] : [];
    });
    await Promise.all(ended.map(({ session, owner }) => session.close(ending.message(owner), { now: true })));
    return ended.length;
  }

  async close(): Promise<void> {
    clearInterval(this.#reaper);
    await Promise.allSettled([...this.#sessions.values()].map((s) => s.close()));
  }

  async handle(req: IncomingMessage, res: ServerResponse, serverName: string, path: string, now: number): Promise<void> {
    const revision = this.#endings.revision;
    const server = await this.#store.getServer(serverName);
    if (!server) return sendJson(res, 404, { error: 'not_found', error_description: `no server named ${serverName} behind this gateway` });
    if (server.upstream.transport === 'http-api') return sendJson(res, 404, { error: 'not_found', error_description: `${serverName} is an HTTP API, not an MCP server: call it through /proxy/${serverName}/…` });
    const caller = await this.#authenticate(req, res, server, path, now);
    if (!caller) return;
    try {
      await this.#serve(req, res, server, caller, revision);
    } catch (error) {
      if (!(error instanceof TransportError)) throw error;
      sendRpcError(res, error.status, error.rpcCode, error.message);
    }
  }

  /**
   * `POST /mcp/<server>/preview`: what the gateway would decide for a call — allow, deny
   * or needs-approval (with who may approve, and the approval already asked or given) —
   * decided exactly as the call would be, with the task's history, and with nothing
   * counted, asked for, used or sent upstream. Authenticated like the gateway itself.
   */
  async preview(req: IncomingMessage, res: ServerResponse, serverName: string, path: string, now: number): Promise<void> {
    const server = await this.#store.getServer(serverName);
    if (!server || server.upstream.transport === 'http-api') throw new MandateError('server_not_found', `no MCP server named ${serverName} behind this gateway`, { status: 404 });
    const caller = await this.#authenticate(req, res, server, path, now);
    if (!caller) return;
    const body = await readJsonBody(req).catch((error: TransportError) => {
      throw badRequest('invalid_body', error.message);
    }) as { method?: unknown; name?: unknown; uri?: unknown; arguments?: unknown } | null;
    const method = body?.method ?? 'tools/call';
    if (method !== 'tools/call' && method !== 'prompts/get' && method !== 'resources/read') throw badRequest('invalid_method', 'method is tools/call (the default), prompts/get or resources/read');
    const target = method === 'resources/read' ? body?.uri : body?.name;
    if (typeof target !== 'string') throw badRequest('invalid_body', method === 'resources/read' ? 'give the resource as "uri"' : 'give the tool or prompt as "name"');
    if (body?.arguments !== undefined && (typeof body.arguments !== 'object' || body.arguments === null || Array.isArray(body.arguments))) throw badRequest('invalid_body', '"arguments" is an object');
    const request: GovernedRequest = { caller, method, target, arguments: body?.arguments, started: performance.now() };
    const seconds = Math.floor(Date.now() / 1000);
    const question = await this.#question(server, request, seconds);
    if ('refused' in question) {
      const { decision } = question.refused;
      return sendJson(res, 200, { decision: 'deny', ...(decision.allow ? {} : { code: decision.code, reason: decision.message }), policies: [], policy_set_hash: question.refused.policySetHash });
    }
    const answer = decideWithApprovals(question.engine, question.asked);
    const shown = { policies: answer.policies, policy_set_hash: answer.policySetHash };
    if (answer.decision === 'allow') return sendJson(res, 200, { decision: 'allow', ...shown });
    if (!answer.needsApproval) {
      const refused = denial(server, request, answer);
      return sendJson(res, 200, { decision: 'deny', code: refused.code, reason: refused.message, ...shown });
    }
    // An approval of exactly this call, as it stands: given and usable, waiting for a person, or denied a moment ago.
    const approvals = this.#options.approvals;
    const known = await approvals?.standing(actionDigest(this.#binding(server, request)), caller.mandateId, seconds) ?? null;
    const approval = known && approvals ? { id: known.id, state: known.state, url: approvals.url(known.id), page: approvals.page(known.id) } : null;
    if (known?.state === 'denied' && approvals) {
      const refused = deniedRefusal(approvals, known, `${server.name}/${request.target}`, 'call', answer.needsApproval.policies);
      return sendJson(res, 200, { decision: 'deny', code: refused.code, reason: refused.message, ...shown, policies: answer.needsApproval.policies, approval });
    }
    return sendJson(res, 200, {
      decision: 'needs-approval', code: APPROVAL_REQUIRED, approvers: answer.needsApproval.approvers, ...shown, policies: answer.needsApproval.policies, approval,
    });
  }

  /** The caller of an authenticated request; otherwise answers 401 (audited) and returns null. */
  async #authenticate(req: IncomingMessage, res: ServerResponse, server: Server, path: string, now: number): Promise<CallerContext | null> {
    try {
      return await taskCaller(this.#store, this.#tokens, {
        authorization: req.headers.authorization, dpop: req.headers.dpop as string | undefined, method: req.method ?? 'GET', url: `${this.#options.publicUrl}${path}`,
      }, { resource: `${this.#options.publicUrl}/mcp/${server.name}`, now, dpopMaxAge: this.#options.dpopMaxAge, notBefore: this.#options.notBefore, replayCache: this.#replay });
    } catch (error) {
      if (!(error instanceof TaskCallerRefused)) throw error;
      const { failure, who } = error;
      const oauth = failure.oauthError ?? 'invalid_token';
      // A token that verified but no longer stands still says whose it was.
      await this.#audit.append(this.#event({ kind: 'authentication', server: server.name, ...who, decision: 'deny', reason: failure.code, outcome: 'denied' }))
        .catch((e: Error) => console.error(`mandate: audit append failed: ${e.message}`));
      sendJson(res, 401, { error: oauth, error_description: failure.message, mandate_error: failure.code }, { 'www-authenticate': challenge(this.#options.publicUrl, server.name, failure.code === 'token_missing' ? null : oauth, failure.message) });
      return null;
    }
  }

  /**
   * One authenticated streamable-HTTP request: POST messages, GET the session stream,
   * DELETE the session. `revision`: endSessions' count when the request arrived.
   */
  async #serve(req: IncomingMessage, res: ServerResponse, server: Server, caller: CallerContext, revision: number): Promise<void> {
    const sessionHeader = req.headers['mcp-session-id'];
    if (req.method === 'POST') {
      checkPostHeaders(req.headers);
      const body = await readJsonBody(req);
      const messages = parseMessages(body);
      if (messages.some((m) => m.method === 'initialize')) {
        if (messages.length > 1) throw new TransportError(400, -32600, 'Invalid Request: initialize must be sent alone');
        if (sessionHeader !== undefined) throw new TransportError(400, -32600, 'Invalid Request: this session is already initialized');
        const opened = await this.#openSession(server, caller, revision);
        if ('refused' in opened) {
          const { code, message, rpcCode, method } = opened.refused;
          sendJson(res, 200, { jsonrpc: '2.0', id: messages[0]?.id ?? null, error: { code: rpcCode, message, data: { code, server: server.name, ...(method ? { method } : {}) } } });
          return;
        }
        opened.receive(res, messages, false, caller);
        return;
      }
      protocolVersion(req.headers['mcp-protocol-version']);
      this.#session(sessionHeader, server, caller).receive(res, messages, Array.isArray(body), caller);
      return;
    }
    const session = this.#session(sessionHeader, server, caller);
    if (req.method === 'GET') {
      if (!(req.headers.accept ?? '').includes('text/event-stream')) throw new TransportError(406, -32000, 'Not Acceptable: the client must accept text/event-stream');
      protocolVersion(req.headers['mcp-protocol-version']);
      session.channel.openStream(res);
      return;
    }
    await session.close();
    res.writeHead(200, { 'content-type': 'application/json' }).end();
  }

  #session(id: string | string[] | undefined, server: Server, caller: CallerContext): GatewaySession {
    if (typeof id !== 'string') throw new TransportError(400, -32000, 'Bad Request: no Mcp-Session-Id: start with an initialize request');
    const session = this.#sessions.get(id);
    if (!session || session.server !== server.name) throw new TransportError(404, -32001, 'Session not found: initialize a new one');
    if (session.binding.mandateId !== caller.mandateId || session.binding.clientId !== caller.clientId) {
      throw new TransportError(403, -32001, 'this session belongs to another agent or mandate');
    }
    return session;
  }

  /**
   * A new session with its upstream, the server's credentials injected; or, when one
   * of them may not or cannot be used, the refusal (nothing is started). A session
   * whose authority ended while it was opening (since `revision`) is closed and refused.
   */
  async #openSession(server: Server, caller: CallerContext, revision: number): Promise<GatewaySession | { refused: { code: string; message: string; rpcCode: number; method?: string } }> {
    const lease = this.#options.credentials
      ? await this.#options.credentials.lease(server, caller, `${server.name}/*`, Math.floor(Date.now() / 1000))
      : { ok: true as const, injection: undefined, uses: [] };
    // Recorded before anything is injected: unrecorded, no credential is used.
    await Promise.all(lease.uses.map((use) => this.#audit.append(this.#credentialUseEvent(server, caller, use)))).catch((error: Error) => {
      throw new TransportError(503, -32603, `the credential use could not be recorded in the audit log (${error.message})`);
    });
    if (!lease.ok) {
      // A denial is the gateway's refusal; a key or seal problem is Mandate's own failure.
      const rpcCode = lease.code === 'credential_use_denied' || lease.code === 'decision_failed' ? GATEWAY_DENIED : -32603;
      return { refused: { code: lease.code, message: lease.message, rpcCode, method: 'credential/use' } };
    }
    const credentials = lease.injection ? [...lease.injection.credentials] : [];
    const session = new GatewaySession(server.name, caller, openUpstream(server.name, server.upstream, {}, lease.injection), {
      decide: (request) => this.#decideRequest(server, request, credentials),
      visible: (c, method, targets, listingStartedAt) => this.#visible(server, c, method, targets, listingStartedAt),
      recordResult: async (request, outcome, { secrets, reason, rpcError }) => {
        await this.#audit.append(this.#requestEvent(server, request, {
          kind: 'result', decision: 'allow', outcome, ...(reason ? { reason } : {}), ...(secrets.length > 0 ? { secrets } : {}),
        }, credentials));
        // What flowed is part of the task before the agent sees the answer: its next call is decided with it.
        await this.#observeFlow(request, outcome === 'denied' ? 'failed' : rpcError ? 'error' : 'ok');
      },
      blocksSecretReplies: () => this.blockSecretReplies,
      ...(this.#options.approvalProgressSeconds ? { holdProgressMs: this.#options.approvalProgressSeconds * 1000 } : {}),
      onClose: (s) => this.#sessions.delete(s.sessionId),
    });
    try {
      await session.start();
    } catch (error) {
      await session.close();
      throw new TransportError(502, -32603, `the upstream server ${server.name} could not be reached: ${(error as Error).message}`);
    }
    const owner: SessionOwner = { mandateId: caller.mandateId, agents: [...caller.agents], credentials };
    this.#owners.set(session, owner);
    this.#sessions.set(session.sessionId, session);
    const ended = this.#endings.since(revision, owner);
    if (ended) {
      await session.close(ended.message, { now: true });
      return { refused: { ...ended, rpcCode: GATEWAY_DENIED } };
    }
    return session;
  }

  /**
   * Decides a governed request and records the decision durably before it takes
   * effect. An allowed request is counted against the mandate's budget in the same
   * transaction that records the decision: counted exactly when recorded.
   */
  async #decideRequest(server: Server, request: GovernedRequest, credentials: readonly string[], mayHold = true): Promise<Decision> {
    const now = Math.floor(Date.now() / 1000);
    const { decision, policies, policySetHash, asked: decided, approval, approvalAsked } = await this.#decide(server, request, now);
    const asked = recorded(request, decided);
    const refuse = async (refusal: { code: string }, id = approvalAsked?.approval.id): Promise<void> => {
      await this.#audit.append(this.#requestEvent(server, request, { kind: 'decision', decision: 'deny', reason: refusal.code, outcome: 'denied', policies, policySetHash, ...asked, ...(id ? { approval: id } : {}) }, credentials));
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
          if (settled.state === 'approved' && !signal.aborted) return this.#decideRequest(server, request, credentials, false);
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
        if (count === 'ok') return this.#requestEvent(server, request, { kind: 'decision', decision: 'allow', policies, policySetHash, ...asked, ...(approval ? { approval } : {}) }, credentials);
        counted = { allow: false, ...callCountRefusal(count, mandateId) };
        return this.#requestEvent(server, request, { kind: 'decision', decision: 'deny', reason: counted.code, outcome: 'denied', policies, policySetHash, ...asked }, credentials);
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
  async #visible(server: Server, caller: CallerContext, method: GovernedMethod, targets: string[], listingStartedAt: number): Promise<Set<string>> {
    const now = Math.floor(Date.now() / 1000);
    const tools = method === 'tools/call'
      ? new Map((await this.#store.discoverTools(server.name, targets.filter((t) => TOOL_NAME.test(t)), now, listingStartedAt)).map((t) => [t.name, t]))
      : new Map();
    const engine = this.#policy();
    const listing = listingEngine(engine);
    const args = setReadsArguments(engine) ? NO_ARGUMENTS : undefined;
    return new Set(targets.filter((target) => listing.decide(governedRequest(caller, server, method, target, tools.get(target), now, args)).decision === 'allow'));
  }

  /** One `credential/use` decision as the session opens: the credential by id (and name), never its secret. */
  #credentialUseEvent(server: Server, caller: CallerContext, use: CredentialUse): AuditEvent {
    return this.#event({
      kind: 'decision', server: server.name, person: caller.person, agents: caller.agents, mandate: caller.mandateId, purpose: caller.purpose,
      method: 'credential/use', tool: use.credential.name, decision: use.decision, reason: use.reason, outcome: use.decision === 'allow' ? null : 'denied',
      policies: use.policies, policySetHash: use.policySetHash, request: use.request, ...(use.shadow ? { shadow: use.shadow } : {}), credentials: [use.credential.id],
      ...(use.lease ? { lease: use.lease } : {}),
    });
  }

  #requestEvent(server: Server, request: GovernedRequest, fields: Partial<AuditEvent> & Pick<AuditEvent, 'kind'>, credentials: readonly string[] = []): AuditEvent {
    const { caller } = request;
    // A resource URI may carry credentials (`postgres://app:…@db/orders`).
    const tool = request.method === 'resources/read' ? redactText(request.target).text : request.target;
    return this.#event({
      server: server.name, person: caller.person, agents: caller.agents, mandate: caller.mandateId, purpose: caller.purpose,
      method: request.method, tool, argumentsDigest: (request.argumentsDigest ??= argumentsDigest(request.arguments)),
      latencyMs: fields.kind === 'result' ? Math.round((performance.now() - request.started) * 1000) / 1000 : null,
      ...(credentials.length > 0 ? { credentials: [...credentials] } : {}), ...fields,
    });
  }

  #event(fields: Partial<AuditEvent> & Pick<AuditEvent, 'kind' | 'server'>): AuditEvent {
    return {
      time: Date.now(), person: null, agents: [], mandate: null, purpose: null, method: null, tool: null, argumentsDigest: null, decision: null,
      reason: null, policies: [], policySetHash: null, outcome: null, latencyMs: null, ...fields,
    };
  }
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
