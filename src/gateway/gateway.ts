// /mcp/<server>: the MCP gateway. Every HTTP request is authenticated (DPoP-bound
// task token for exactly this resource), the mandate behind it must still stand,
// and the session it belongs to must be the same agent's under the same mandate.
// The agent's token never goes upstream: the upstream transport has none.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import { argumentsDigest, type AuditEvent } from '../audit/event.ts';
import type { AuditLog } from '../audit/log.ts';
import { TOOL_NAME } from '../catalog/servers.ts';
import { mandateStanding } from '../delegation/introspection.ts';
import { scopeFromString } from '../delegation/scope.ts';
import { MandateError } from '../errors.ts';
import type { ReplayCache } from '../identity/replay-cache.ts';
import { authenticateTaskRequest } from '../identity/resource-auth.ts';
import type { TokenService } from '../identity/tokens.ts';
import type { PolicyEngine } from '../policy/engine.ts';
import type { Store } from '../store/types.ts';
import { challenge } from './protected-resource.ts';
import { GatewaySession, type CallerContext, type Decision, type ToolCall } from './session.ts';
import { toolCallRequest } from './tool-decision.ts';
import { openUpstream } from './upstream.ts';

export interface GatewayOptions {
  publicUrl: string;
  dpopMaxAge: number;
  notBefore: number;
}

const MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers }).end(JSON.stringify(body));
}

async function readJsonBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_MESSAGE_BYTES) throw new MandateError('body_too_large', `an MCP message may be at most ${MAX_MESSAGE_BYTES} bytes`, { status: 413 });
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new MandateError('invalid_json', 'the body is not valid JSON', { status: 400 });
  }
}

const isInitialize = (body: unknown): boolean =>
  (Array.isArray(body) ? body : [body]).some((m) => typeof m === 'object' && m !== null && (m as { method?: unknown }).method === 'initialize');

export class Gateway {
  readonly #store: Store;
  readonly #tokens: TokenService;
  readonly #replay: ReplayCache;
  readonly #audit: AuditLog;
  readonly #policy: () => PolicyEngine;
  readonly #options: GatewayOptions;
  readonly #sessions = new Map<string, GatewaySession>();

  constructor(store: Store, tokens: TokenService, replay: ReplayCache, audit: AuditLog, policy: () => PolicyEngine, options: GatewayOptions) {
    this.#store = store;
    this.#tokens = tokens;
    this.#replay = replay;
    this.#audit = audit;
    this.#policy = policy;
    this.#options = options;
  }

  get sessionCount(): number {
    return this.#sessions.size;
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.#sessions.values()].map((s) => s.close()));
  }

  async handle(req: IncomingMessage, res: ServerResponse, serverName: string, path: string, now: number): Promise<void> {
    const server = await this.#store.getServer(serverName);
    if (!server) return sendJson(res, 404, { error: 'not_found', error_description: `no server named ${serverName} behind this gateway` });

    let caller: CallerContext;
    let token: string;
    try {
      const claims = authenticateTaskRequest(this.#tokens, {
        authorization: req.headers.authorization, dpop: req.headers.dpop as string | undefined, method: req.method ?? 'GET', url: `${this.#options.publicUrl}${path}`,
      }, { resource: `${this.#options.publicUrl}/mcp/${serverName}`, now, dpopMaxAge: this.#options.dpopMaxAge, notBefore: this.#options.notBefore, replayCache: this.#replay });
      const standing = await mandateStanding(this.#store, claims, now);
      // A spent budget refuses calls (as a JSON-RPC error, below), not the connection.
      if (!standing.active && standing.reason !== 'mandate_exhausted') throw new MandateError(standing.reason, `the task token no longer stands: ${standing.reason.replace(/_/g, ' ')}`, { status: 401, oauthError: 'invalid_token' });
      caller = {
        mandateId: String(claims.mandate_id), clientId: String(claims.client_id), scope: scopeFromString(String(claims.scope ?? '')),
        person: String(claims.sub), agents: actorChain(claims.act), purpose: standing.mandate?.purpose ?? '',
        agent: standing.agent as NonNullable<typeof standing.agent>, grantedAt: standing.mandate?.createdAt ?? now,
      };
      token = (req.headers.authorization as string).slice('DPoP '.length);
    } catch (error) {
      const failure = error instanceof MandateError ? error : new MandateError('token_invalid', 'the request could not be authenticated', { status: 401, oauthError: 'invalid_token' });
      const oauth = failure.oauthError ?? 'invalid_token';
      await this.#record({ kind: 'authentication', server: serverName, decision: 'deny', reason: failure.code, outcome: 'denied' }).catch((e: Error) => console.error(`mandate: audit append failed: ${e.message}`));
      return sendJson(res, 401, { error: oauth, error_description: failure.message, mandate_error: failure.code }, { 'www-authenticate': challenge(this.#options.publicUrl, serverName, oauth, failure.message) });
    }

    const body = req.method === 'POST' ? await readJsonBody(req) : undefined;
    const sessionId = req.headers['mcp-session-id'] as string | undefined;
    let session: GatewaySession | undefined;
    if (sessionId !== undefined) {
      session = this.#sessions.get(sessionId);
      if (!session || session.server !== serverName) return sendJson(res, 404, { jsonrpc: '2.0', id: null, error: { code: -32001, message: 'session not found: initialize a new one' } });
      if (session.binding.mandateId !== caller.mandateId || session.binding.clientId !== caller.clientId) {
        return sendJson(res, 403, { jsonrpc: '2.0', id: null, error: { code: -32001, message: 'this session belongs to another agent or mandate' } });
      }
    } else if (req.method === 'POST' && isInitialize(body)) {
      session = new GatewaySession(serverName, caller, openUpstream(server.upstream, () => undefined), {
        decideToolCall: (call) => this.#decideToolCall(serverName, call),
        visibleTools: (c, names) => this.#visibleTools(serverName, c, names),
        recordResult: (call, outcome) => this.#recordCall(serverName, call, { kind: 'result', decision: 'allow', outcome }).then(() => undefined),
        onClose: (s) => {
          if (s.downstream.sessionId) this.#sessions.delete(s.downstream.sessionId);
        },
      }, (s) => {
        if (s.downstream.sessionId) this.#sessions.set(s.downstream.sessionId, s);
      });
      try {
        await session.start();
      } catch (error) {
        return sendJson(res, 502, { jsonrpc: '2.0', id: null, error: { code: -32603, message: `the upstream server ${serverName} could not be reached: ${(error as Error).message}` } });
      }
    } else {
      return sendJson(res, 400, { jsonrpc: '2.0', id: null, error: { code: -32600, message: 'no Mcp-Session-Id: start with an initialize request' } });
    }
    const auth: AuthInfo = { token, clientId: caller.clientId, scopes: caller.scope, extra: { caller } };
    await session.downstream.handleRequest(Object.assign(req, { auth }), res, body);
  }

  /** Decides a tools/call and records the decision durably before it takes effect. */
  async #decideToolCall(server: string, call: ToolCall): Promise<Decision> {
    const { decision, policies, policySetHash } = await this.#decide(server, call);
    await this.#recordCall(server, call, decision.allow
      ? { kind: 'decision', decision: 'allow', policies, policySetHash }
      : { kind: 'decision', decision: 'deny', reason: decision.code, outcome: 'denied', policies, policySetHash });
    return decision;
  }

  async #decide(server: string, { caller, tool }: ToolCall): Promise<{ decision: Decision; policies: string[]; policySetHash: string }> {
    const now = Math.floor(Date.now() / 1000);
    const engine = this.#policy();
    if (!TOOL_NAME.test(tool)) {
      return { decision: { allow: false, code: 'invalid_tool', message: 'denied: the tool name is not valid' }, policies: [], policySetHash: engine.hash };
    }
    const known = (await this.#store.listTools(server)).find((t) => t.name === tool);
    const answer = engine.decide(toolCallRequest({ caller, agent: caller.agent, grantedAt: caller.grantedAt }, server, tool, known, now));
    const base = { policies: answer.policies, policySetHash: answer.policySetHash };
    if (answer.decision !== 'allow') {
      const inScope = caller.scope.includes(`${server}/${tool}`) || caller.scope.includes(`${server}/*`);
      const [code, why] = answer.errors.length > 0 ? ['decision_failed', `the policy could not be evaluated (${answer.errors.join('; ')})`]
        : answer.policies.length > 0 ? ['forbidden_by_policy', `forbidden by ${answer.policies.join(', ')}`]
        : inScope ? ['tool_added_after_grant', `${server}/${tool} appeared after mandate ${caller.mandateId} was granted`]
        : ['tool_outside_scope', `${server}/${tool} is outside the scope of mandate ${caller.mandateId}`];
      return { decision: { allow: false, code, message: `denied: ${why}` }, ...base };
    }
    const counted = await this.#store.consumeCall(caller.mandateId, now);
    if (counted === 'exhausted') return { decision: { allow: false, code: 'mandate_exhausted', message: `denied: mandate ${caller.mandateId} has used all its calls` }, ...base };
    if (counted === 'not_active') return { decision: { allow: false, code: 'mandate_not_active', message: `denied: mandate ${caller.mandateId} is no longer active` }, ...base };
    return { decision: { allow: true }, ...base };
  }

  /** Records what the upstream offers and keeps what the policy lets this caller use. */
  async #visibleTools(server: string, caller: CallerContext, names: string[]): Promise<Set<string>> {
    const now = Math.floor(Date.now() / 1000);
    const tools = new Map((await this.#store.discoverTools(server, names, now)).map((t) => [t.name, t]));
    const engine = this.#policy();
    return new Set(names.filter((name) => engine.decide(toolCallRequest({ caller, agent: caller.agent, grantedAt: caller.grantedAt }, server, name, tools.get(name), now)).decision === 'allow'));
  }

  #recordCall(server: string, call: ToolCall, fields: Partial<AuditEvent> & Pick<AuditEvent, 'kind'>) {
    return this.#record({
      server, person: call.caller.person, agents: call.caller.agents, mandate: call.caller.mandateId, purpose: call.caller.purpose,
      method: 'tools/call', tool: call.tool, argumentsDigest: argumentsDigest(call.arguments),
      latencyMs: fields.kind === 'result' ? Math.round((performance.now() - call.started) * 1000) / 1000 : null, ...fields,
    });
  }

  #record(fields: Partial<AuditEvent> & Pick<AuditEvent, 'kind' | 'server'>) {
    return this.#audit.append({
      time: Date.now(), person: null, agents: [], mandate: null, purpose: null, method: null, tool: null, argumentsDigest: null, decision: null,
      reason: null, policies: [], policySetHash: null, outcome: null, latencyMs: null, ...fields,
    });
  }
}

/** `act` nested claims as a list, current actor first. */
function actorChain(act: unknown): string[] {
  const chain: string[] = [];
  let current = act as { sub?: unknown; act?: unknown } | undefined;
  while (current && typeof current.sub === 'string' && chain.length < 16) {
    chain.push(current.sub);
    current = current.act as typeof current;
  }
  return chain;
}
