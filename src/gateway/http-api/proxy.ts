// /proxy/<server>/<path>: agents calling an HTTP API through Mandate, with the same
// pipeline as an MCP call — authenticate (a DPoP-bound task token for exactly
// `<public url>/proxy/<server>`), decide (`http/request`, on the method and the
// normalised path; deny by default), count and record the decision before the
// request leaves, decide and inject the server's credentials (`credential/use`),
// forward (forward.ts), record the result. The agent's token never goes upstream.
// Every refusal is problem+json with a stable code. A request denied only by approval
// policies is read whole and bound, body and all, to an approval (docs/approvals.md):
// refused at once with the approval to ask for, or passed once when it is approved.
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Agent as UndiciAgent, type Dispatcher } from 'undici';
import { argumentsDigest, type AuditEvent } from '../../audit/event.ts';
import type { AuditLog } from '../../audit/log.ts';
import type { Approvals } from '../../approvals/approvals.ts';
import type { ActionBinding } from '../../approvals/types.ts';
import { COPY_LIMITS, redactText, redactedCopy, type SecretKind } from '../../audit/redact.ts';
import { HTTP_METHODS } from '../../catalog/http-routes.ts';
import type { CredentialBroker, CredentialUse } from '../../credentials/broker.ts';
import { MandateError, notFound } from '../../errors.ts';
import type { ReplayCache } from '../../identity/replay-cache.ts';
import type { TokenService } from '../../identity/tokens.ts';
import { APPROVAL_REQUIRED, decideWithApprovals, type DecisionWithApprovals } from '../../policy/approval-decision.ts';
import type { AuthorizationRequest, PolicyEngine } from '../../policy/engine.ts';
import { askApproval, useApproval } from '../approval-step.ts';
import { callCountRefusal } from '../call-count.ts';
import type { Server, Store } from '../../store/types.ts';
import { mapArguments } from '../arguments.ts';
import { challenge } from '../protected-resource.ts';
import { recordedRequest, setReadsArguments } from '../request.ts';
import type { CallerContext } from '../session.ts';
import { TaskCallerRefused, taskCaller } from '../task-caller.ts';
import { DEFAULT_FORWARD_LIMITS, forward, type ForwardLimits } from './forward.ts';
import { normalizePath } from './path.ts';
import { httpRequest, httpScopeEntries, queryArguments } from './request.ts';

export interface HttpProxyOptions {
  publicUrl: string;
  dpopMaxAge: number;
  notBefore: number;
  limits?: Partial<ForwardLimits>;
  /** Approvals: a request a policy holds for a person's yes asks for one (without it, such a request is refused). */
  approvals?: Approvals;
}

/** A refusal: the problem+json status and code, and the WWW-Authenticate challenge of a 401. */
export class ProxyRefusal extends MandateError {
  readonly challenge: string | undefined;
  constructor(code: string, message: string, status: number, challengeHeader?: string) {
    super(code, message, { status });
    this.challenge = challengeHeader;
  }
}

/** One request as decided and recorded: who, what, and what its events share. */
interface ProxiedRequest {
  caller: CallerContext;
  method: string;
  path: string;
  args: Record<string, string | string[]>;
  digest: string;
  started: number;
}

/** The whole body, or why it could not be read: larger than `maxBytes` (by its declared length or as it came), or the agent went away. */
function readWhole(req: IncomingMessage, maxBytes: number): Promise<Buffer | 'too_large' | 'aborted'> {
  if (Number(req.headers['content-length'] ?? 0) > maxBytes) return Promise.resolve('too_large');
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size <= maxBytes) return void chunks.push(chunk);
      req.off('data', onData).pause();
      resolve('too_large');
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks, size)));
    req.once('error', () => resolve('aborted'));
    req.once('close', () => resolve(req.complete ? Buffer.concat(chunks, size) : 'aborted'));
  });
}

export class HttpProxy {
  readonly #store: Store;
  readonly #tokens: TokenService;
  readonly #replay: ReplayCache;
  readonly #audit: AuditLog;
  readonly #policy: () => PolicyEngine;
  readonly #credentials: CredentialBroker;
  readonly #options: HttpProxyOptions;
  readonly #limits: ForwardLimits;
  // One connection pool per upstream origin, kept alive across requests.
  readonly #dispatcher: Dispatcher = new UndiciAgent({ connections: 32, headersTimeout: DEFAULT_FORWARD_LIMITS.headersTimeoutMs, bodyTimeout: DEFAULT_FORWARD_LIMITS.bodyTimeoutMs });

  constructor(store: Store, tokens: TokenService, replay: ReplayCache, audit: AuditLog, policy: () => PolicyEngine, credentials: CredentialBroker, options: HttpProxyOptions) {
    this.#store = store;
    this.#tokens = tokens;
    this.#replay = replay;
    this.#audit = audit;
    this.#policy = policy;
    this.#credentials = credentials;
    this.#options = options;
    this.#limits = { ...DEFAULT_FORWARD_LIMITS, ...options.limits };
  }

  async close(): Promise<void> {
    await this.#dispatcher.destroy().catch(() => undefined);
  }

  /**
   * One request to /proxy/<serverName><rest>, `rest` as the client sent it (still
   * percent-encoded). Throws a MandateError (a ProxyRefusal for a 401) before
   * anything was relayed; afterwards the answer is the upstream's.
   */
  async handle(req: IncomingMessage, res: ServerResponse, serverName: string, rest: string, query: URLSearchParams, now: number): Promise<void> {
    const server = await this.#store.getServer(serverName);
    if (!server) throw notFound('server_not_found', `no server named ${serverName} behind this gateway`);
    if (server.upstream.transport !== 'http-api') throw notFound('not_an_http_api', `${serverName} is an MCP server, not an HTTP API: connect to /mcp/${serverName}`);
    const upstream = new URL(server.upstream.url);
    const caller = await this.#authenticate(req, server, now);
    const method = (req.method ?? 'GET').toUpperCase();
    const args = queryArguments(query);
    const request: ProxiedRequest = { caller, method, path: rest, args, digest: argumentsDigest(args), started: performance.now() };
    if (!(HTTP_METHODS as readonly string[]).includes(method)) {
      await this.#refuse(server, request, 'method_not_allowed', `denied: ${method} is not a method the proxy relays`, 405);
    }
    try {
      request.path = normalizePath(rest);
    } catch (error) {
      await this.#refuse(server, request, (error as MandateError).code, (error as MandateError).message, 400);
    }
    const call = httpScopeEntries(server.name, method, request.path).call;
    const body = await this.#decide(server, request, req, now);
    const lease = await this.#credentials.lease(server, caller, call, now);
    // Recorded before anything is injected: unrecorded, no credential is used.
    await Promise.all(lease.uses.map((use) => this.#audit.append(this.#credentialUseEvent(server, request, use)))).catch((error: Error) => {
      throw new MandateError('audit_unavailable', `the credential use could not be recorded in the audit log (${error.message})`, { status: 503 });
    });
    if (!lease.ok) {
      const denied = lease.code === 'credential_use_denied' || lease.code === 'decision_failed';
      await this.#record(server, request, { kind: 'result', decision: 'allow', outcome: 'denied', reason: lease.code }, []);
      throw new MandateError(lease.code, lease.message, { status: denied ? 403 : 503 });
    }
    const credentials = [...lease.injection.credentials];
    const base = upstream.pathname.replace(/\/+$/, '');
    const search = query.toString();
    let forwarded;
    try {
      forwarded = await forward(this.#dispatcher, {
        origin: upstream.origin, path: `${base}${request.path}${search === '' ? '' : `?${search}`}`, method,
        headers: lease.injection.headers, guard: lease.injection.guard, ...(body ? { body } : {}),
      }, req, res, this.#limits);
    } catch (error) {
      const failure = error instanceof MandateError ? error : new MandateError('upstream_unreachable', 'the upstream could not be reached', { status: 502 });
      await this.#record(server, request, { kind: 'result', decision: 'allow', outcome: failure.code === 'reply_carries_credential' ? 'denied' : 'error', reason: failure.code }, credentials)
        .catch((e: Error) => console.error(`mandate: audit append failed: ${e.message}`));
      throw failure;
    }
    await this.#record(server, request, { kind: 'result', decision: 'allow', outcome: forwarded.outcome, reason: forwarded.reason }, credentials)
      .catch((e: Error) => console.error(`mandate: the result of a proxied request could not be recorded: ${e.message}`));
  }

  async #authenticate(req: IncomingMessage, server: Server, now: number): Promise<CallerContext> {
    const resource = `${this.#options.publicUrl}/proxy/${server.name}`;
    const path = new URL(req.url ?? '/', 'http://mandate.invalid').pathname;
    try {
      return await taskCaller(this.#store, this.#tokens, {
        authorization: req.headers.authorization, dpop: req.headers.dpop as string | undefined, method: req.method ?? 'GET', url: `${this.#options.publicUrl}${path}`,
      }, { resource, now, dpopMaxAge: this.#options.dpopMaxAge, notBefore: this.#options.notBefore, replayCache: this.#replay });
    } catch (error) {
      if (!(error instanceof TaskCallerRefused)) throw error;
      const { failure, who } = error;
      await this.#audit.append(this.#event({ kind: 'authentication', server: server.name, ...who, decision: 'deny', reason: failure.code, outcome: 'denied' }))
        .catch((e: Error) => console.error(`mandate: audit append failed: ${e.message}`));
      const oauth = failure.code === 'token_missing' ? null : failure.oauthError ?? 'invalid_token';
      throw new ProxyRefusal(failure.code, failure.message, 401, challenge(this.#options.publicUrl, server.name, oauth, failure.message, 'proxy'));
    }
  }

  /**
   * Decides the request and records the decision, counted against the mandate when
   * allowed; throws the refusal. Resolves to the body when it had to be read whole (a
   * request allowed by its approval), else undefined: the body is streamed.
   */
  async #decide(server: Server, request: ProxiedRequest, req: IncomingMessage, now: number): Promise<Buffer | undefined> {
    const engine = this.#policy();
    const mapped = setReadsArguments(engine) ? mapArguments(request.args) : undefined;
    if (mapped && !mapped.ok) return this.#refuse(server, request, mapped.code, `denied: the query cannot be decided on: ${mapped.message}`, 400);
    const asked = httpRequest(request.caller, server, request.method, request.path, now, mapped?.views);
    const answer = decideWithApprovals(engine, asked);
    const kept = recordedRequest(asked);
    let fields: Partial<AuditEvent> = {
      policies: answer.policies, policySetHash: answer.policySetHash, request: kept.request, ...(answer.shadow ? { shadow: answer.shadow } : {}),
    };
    const { mandateId } = request.caller;
    const target = `${request.method} ${request.path}`;
    let body: Buffer | undefined;
    if (answer.decision !== 'allow' && answer.needsApproval) {
      const approved = await this.#approved(server, request, req, engine, asked, answer, fields, kept.found, now);
      body = approved.body;
      fields = { ...fields, policies: approved.policies, policySetHash: approved.policySetHash, approval: approved.approval };
    } else if (answer.decision !== 'allow') {
      const [code, why] = answer.errors.length > 0 ? ['decision_failed', `the policy could not be evaluated (${answer.errors.join('; ')})`]
        : answer.policies.length > 0 ? ['forbidden_by_policy', `forbidden by ${answer.policies.join(', ')}`]
        : ['endpoint_outside_scope', `${target} on ${server.name} is outside the scope of mandate ${mandateId}`];
      await this.#record(server, request, { kind: 'decision', decision: 'deny', reason: code, outcome: 'denied', ...fields }, [], kept.found);
      throw new MandateError(code, `denied: ${why}`, { status: 403 });
    }
    let refused = null as MandateError | null;
    await this.#audit.append({
      countCall: { mandateId, now },
      event: (count) => {
        if (count === 'ok') return this.#event(this.#fields(server, request, { kind: 'decision', decision: 'allow', ...fields }, [], kept.found));
        const { code, message } = callCountRefusal(count, mandateId);
        refused = new MandateError(code, message, { status: 403 });
        return this.#event(this.#fields(server, request, { kind: 'decision', decision: 'deny', reason: code, outcome: 'denied', ...fields }, [], kept.found));
      },
    }).catch((error: Error) => {
      throw new MandateError('audit_unavailable', `denied: the decision could not be recorded in the audit log (${error.message})`, { status: 503 });
    });
    if (refused) throw refused;
    return body;
  }

  /**
   * A request that needs approval: its body read whole (within the request limit) and
   * bound with the query to the approval; passes (resolves) only with an approval of
   * exactly it, by someone the policies name, under which the rest of the set allows it.
   * Otherwise the refusal is recorded and thrown: `approval_required` with the approval
   * asked for (or still pending), or why the approval held does not suffice.
   */
  async #approved(
    server: Server, request: ProxiedRequest, req: IncomingMessage, engine: PolicyEngine, asked: AuthorizationRequest,
    answer: DecisionWithApprovals, fields: Partial<AuditEvent>, found: readonly SecretKind[], now: number,
  ): Promise<{ body: Buffer; approval: string; policies: string[]; policySetHash: string }> {
    const need = answer.needsApproval as NonNullable<DecisionWithApprovals['needsApproval']>;
    const deny = async (code: string, message: string, status: number, extra: Partial<AuditEvent> = {}, extensions?: Record<string, unknown>): Promise<never> => {
      await this.#record(server, request, { kind: 'decision', decision: 'deny', reason: code, outcome: 'denied', ...fields, ...extra }, [], found);
      throw new MandateError(code, message, { status, ...(extensions ? { extensions } : {}) });
    };
    const approvals = this.#options.approvals;
    if (!approvals) return deny(APPROVAL_REQUIRED, `denied: ${need.policies.join(', ')} ask for approval, and this gateway takes none`, 403);
    const limit = this.#limits.maxRequestBytes;
    const body = await readWhole(req, limit);
    if (body === 'too_large') {
      return deny('body_too_large', `denied: a request that needs approval is read whole to be bound to it, and this body is larger than ${limit} bytes`, 413);
    }
    if (body === 'aborted') return deny('request_aborted', 'the agent went away before its request body was read', 499);
    const contentType = String(req.headers['content-type'] ?? '').slice(0, 256) || null;
    // What the approval is bound to besides method and path: the query, the body's bytes by digest, and how to read them.
    request.digest = argumentsDigest({ query: request.args, body: `sha256:${createHash('sha256').update(body).digest('hex')}`, content_type: contentType });
    const { caller } = request;
    const binding: ActionBinding = {
      server: server.name, method: 'http/request', target: `${request.method} ${request.path}`, argumentsDigest: request.digest, mandateId: caller.mandateId, agent: caller.agents[0] ?? caller.clientId,
    };
    const held = await useApproval(approvals, engine, asked, need, binding, now);
    if (held?.allowed) return { body, approval: held.approval.id, policies: held.policies, policySetHash: held.policySetHash };
    if (held) return deny('approval_insufficient', held.message, 403, { approval: held.approval.id });
    // What the person deciding sees: the query (redacted when it is recorded) and the body's size and type, never its bytes.
    const preview = { query: request.args, body: { bytes: body.length, content_type: contentType } };
    const { approval, refusal } = await askApproval(approvals, binding, caller.person, need, preview, now, `${request.method} ${redactText(request.path.slice(0, 2048)).text} on ${server.name}`, 'request');
    return deny(refusal.code, refusal.message, 403, { approval: approval.id }, refusal.data);
  }

  /** Records a refusal decided before Cedar (a method or path that cannot be decided on) and throws it. */
  async #refuse(server: Server, request: ProxiedRequest, code: string, message: string, status: number): Promise<never> {
    await this.#record(server, request, { kind: 'decision', decision: 'deny', reason: code, outcome: 'denied' }, []);
    throw new MandateError(code, message, { status });
  }

  #record(server: Server, request: ProxiedRequest, fields: Partial<AuditEvent> & Pick<AuditEvent, 'kind'>, credentials: readonly string[], found: readonly SecretKind[] = []): Promise<unknown> {
    return this.#audit.append(this.#event(this.#fields(server, request, fields, credentials, found)));
  }

  /** A request's event: method `http/<METHOD>`, the path as its `tool`, the query by digest and as a redacted copy. */
  #fields(server: Server, request: ProxiedRequest, fields: Partial<AuditEvent> & Pick<AuditEvent, 'kind'>, credentials: readonly string[], found: readonly SecretKind[]): Partial<AuditEvent> & Pick<AuditEvent, 'kind' | 'server'> {
    const { caller } = request;
    const secrets = new Set<SecretKind>(found);
    let copy: unknown;
    if (fields.kind === 'decision' && Object.keys(request.args).length > 0) {
      const redacted = redactedCopy(request.args, COPY_LIMITS);
      copy = redacted.value;
      for (const kind of redacted.found) secrets.add(kind);
    }
    return {
      server: server.name, person: caller.person, agents: caller.agents, mandate: caller.mandateId, purpose: caller.purpose,
      // A path may carry a secret (`/keys/ghp_…`): the event keeps it redacted.
      method: `http/${request.method}`, tool: redactText(request.path.slice(0, 2048)).text, argumentsDigest: request.digest,
      latencyMs: fields.kind === 'result' ? Math.round((performance.now() - request.started) * 1000) / 1000 : null,
      ...(copy !== undefined ? { arguments: copy } : {}), ...(secrets.size > 0 ? { secrets: [...secrets].sort() } : {}),
      ...(credentials.length > 0 ? { credentials: [...credentials] } : {}), ...fields,
    };
  }

  #credentialUseEvent(server: Server, request: ProxiedRequest, use: CredentialUse): AuditEvent {
    const { caller } = request;
    return this.#event({
      kind: 'decision', server: server.name, person: caller.person, agents: caller.agents, mandate: caller.mandateId, purpose: caller.purpose,
      method: 'credential/use', tool: use.credential.name, decision: use.decision, reason: use.reason, outcome: use.decision === 'allow' ? null : 'denied',
      policies: use.policies, policySetHash: use.policySetHash, request: use.request, ...(use.shadow ? { shadow: use.shadow } : {}), credentials: [use.credential.id],
    });
  }

  #event(fields: Partial<AuditEvent> & Pick<AuditEvent, 'kind' | 'server'>): AuditEvent {
    return {
      time: Date.now(), person: null, agents: [], mandate: null, purpose: null, method: null, tool: null, argumentsDigest: null, decision: null,
      reason: null, policies: [], policySetHash: null, outcome: null, latencyMs: null, ...fields,
    };
  }
}
