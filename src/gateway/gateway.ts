// /mcp/<server>: the MCP gateway. Every HTTP request is authenticated (DPoP-bound
// task token for exactly this resource), the mandate behind it must still stand,
// and the session it belongs to must be the same agent's under the same mandate.
// The agent's token never goes upstream: the upstream connection has none. What is
// decided of each request, and recorded of it, is call-decisions.ts. When the server has
// credentials, each is decided (`credential/use`) and unsealed as the session opens,
// and injected into its upstream; a refusal refuses the session, and the events of
// its requests name the credentials by id. A session ends, its upstream with it, when
// its authority does (endSessions): its mandate ended, its agent (or one that delegated
// to it) stopped, a credential it was given removed or replaced.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { MandateError, badRequest } from '../errors.ts';
import type { AuditEvent } from '../audit/event.ts';
import type { AuditLog } from '../audit/log.ts';
import type { ReplayCache } from '../identity/replay-cache.ts';
import type { CredentialBroker, CredentialUse } from '../credentials/broker.ts';
import type { TokenService } from '../identity/tokens.ts';
import type { Approvals } from '../approvals/approvals.ts';
import type { PolicyEngine } from '../policy/engine.ts';
import type { Server, Store } from '../store/types.ts';
import { CallDecisions, auditEvent } from './call-decisions.ts';
import { challenge } from './protected-resource.ts';
import { SessionEndings, type SessionEnding, type SessionOwner, type SessionSelector } from './session-endings.ts';
import { GATEWAY_DENIED, GatewaySession, type CallerContext, type GovernedRequest } from './session.ts';
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
  readonly #options: GatewayOptions;
  readonly #sessions = new Map<string, GatewaySession>();
  readonly #owners = new WeakMap<GatewaySession, SessionOwner>();
  readonly #decisions: CallDecisions;
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
    this.#options = options;
    this.#decisions = new CallDecisions(store, audit, policy, options);
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
    sendJson(res, 200, await this.#decisions.preview(server, request));
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
      await this.#audit.append(auditEvent({ kind: 'authentication', server: server.name, ...who, decision: 'deny', reason: failure.code, outcome: 'denied' }))
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
      decide: (request) => this.#decisions.decide(server, request, credentials),
      visible: (c, method, targets, listingStartedAt) => this.#decisions.visible(server, c, method, targets, listingStartedAt),
      recordResult: (request, outcome, detail) => this.#decisions.recordResult(server, request, outcome, detail, credentials),
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

  /** One `credential/use` decision as the session opens: the credential by id (and name), never its secret. */
  #credentialUseEvent(server: Server, caller: CallerContext, use: CredentialUse): AuditEvent {
    return auditEvent({
      kind: 'decision', server: server.name, person: caller.person, agents: caller.agents, mandate: caller.mandateId, purpose: caller.purpose,
      method: 'credential/use', tool: use.credential.name, decision: use.decision, reason: use.reason, outcome: use.decision === 'allow' ? null : 'denied',
      policies: use.policies, policySetHash: use.policySetHash, request: use.request, ...(use.shadow ? { shadow: use.shadow } : {}), credentials: [use.credential.id],
      ...(use.lease ? { lease: use.lease } : {}),
    });
  }
}
