// One agent session through the gateway: the agent's streamable-HTTP channel relayed
// message by message to the session's own upstream connection. Requests that act
// (`tools/call`, `resources/read`, `prompts/get`) are decided before they leave;
// listings are filtered on their way back to what the caller may use. Everything
// else passes unchanged, both ways, including server-initiated requests and
// notifications. Client messages reach the upstream in the order they arrived. A
// tool's reply is read for secrets before it goes back (reply-secrets.ts): their kinds
// are recorded with the result, and, when the gateway blocks such replies, the agent
// gets a refusal instead. An answer carrying a credential Mandate injected never
// reaches it (credential-guard.ts): its result is recorded as withheld.
import type { ServerResponse } from 'node:http';
import type { SecretKind } from '../audit/redact.ts';
import { APPROVAL_REQUIRED } from '../policy/approval-decision.ts';
import type { Agent } from '../store/types.ts';
import { REPLY_CARRIES_CREDENTIAL, withheldByGuard } from './credential-guard.ts';
import { REPLY_CARRIES_SECRET, secretsInReply, withholds } from './reply-secrets.ts';
import { DownstreamChannel, isRequest, isResponse, type JsonRpcMessage, type RequestId } from './streamable-http.ts';
import { DECLINED, PersonElicitation, type AskPerson } from './person-elicitation.ts';
import type { CloseOptions, UpstreamConnection } from './upstream.ts';

/** Who is on the other end of a request, as the gateway authenticated it. */
export interface CallerContext {
  mandateId: string;
  clientId: string;
  scope: string[];
  person: string;
  /** The actor chain, current actor first. */
  agents: string[];
  purpose: string;
  agent: Agent;
  /** When the mandate was granted (seconds since the epoch). */
  grantedAt: number;
  /** When the mandate expires (seconds since the epoch). */
  expiresAt: number;
}

/**
 * A governed request's decision: allowed; refused (`data`: more for the agent, e.g. the
 * approval to ask for); or held (`hold`) — waiting for a person, its answer comes when
 * the hold settles, and later messages of the session are not kept waiting meanwhile.
 * The hold's signal aborts when the agent cancels the request or the session ends.
 * `ask`: the person who may decide can be asked at the client (person-elicitation.ts).
 * `waiting`: what a held request waits for, told as progress when it asked for progress.
 */
export type Decision =
  | { allow: true }
  | { allow: false; code: string; message: string; data?: Record<string, unknown>; ask?: AskPerson }
  | { hold: (signal: AbortSignal) => Promise<Decision>; ask?: AskPerson; waiting?: string };

/** The MCP requests the gateway decides, each acting on one named thing of the server. */
export type GovernedMethod = 'tools/call' | 'resources/read' | 'prompts/get';

export interface GovernedRequest {
  caller: CallerContext;
  method: GovernedMethod;
  /** The tool or prompt name, or the resource URI. */
  target: string;
  arguments: unknown;
  /** performance.now() when the request arrived. */
  started: number;
  /** The arguments' digest, once computed (the decision and the result record the same). */
  argumentsDigest?: string;
}

/** Where each governed request names its target, and which listing shows those targets. */
const GOVERNED: Record<GovernedMethod, string> = { 'tools/call': 'name', 'resources/read': 'uri', 'prompts/get': 'name' };
const LISTINGS: Record<string, { key: string; field: string; method: GovernedMethod }> = {
  'tools/list': { key: 'tools', field: 'name', method: 'tools/call' },
  'prompts/list': { key: 'prompts', field: 'name', method: 'prompts/get' },
  'resources/list': { key: 'resources', field: 'uri', method: 'resources/read' },
  'resources/templates/list': { key: 'resourceTemplates', field: 'uriTemplate', method: 'resources/read' },
};

export interface SessionHooks {
  /** Decides one governed request and records the decision; an allowed call has been counted. */
  decide: (request: GovernedRequest) => Promise<Decision>;
  /** Of the targets a listing shows, those this caller may use; `listingStartedAt`: when its first page was asked for. */
  visible: (caller: CallerContext, method: GovernedMethod, targets: string[], listingStartedAt: number) => Promise<Set<string>>;
  /**
   * Records the result of an allowed request; the answer reaches the agent only after
   * this. `denied`: the answer is withheld (`reason` says why); `secrets`: the kinds
   * of secret the upstream's answer carried.
   */
  recordResult: (request: GovernedRequest, outcome: 'ok' | 'error' | 'denied', detail: { secrets: SecretKind[]; reason?: string; rpcError?: boolean }) => Promise<void>;
  /** Whether a tool's answer carrying a secret is withheld from the agent (read for each answer). */
  blocksSecretReplies: () => boolean;
  /** How often a held request that asked for progress is told it is still waiting (ms; default 15 s). */
  holdProgressMs?: number;
  onClose: (session: GatewaySession) => void;
}

/** JSON-RPC error code for a request the gateway refused (implementation-defined range). */
export const GATEWAY_DENIED = -32003;

interface Pending {
  method: string;
  caller: CallerContext;
  governed?: GovernedRequest;
  /** For a listing: when its first page was asked for (seconds). */
  listingStartedAt?: number;
}

/** How long a listing's later pages count as part of it. */
const LISTING_WINDOW_SECONDS = 60;

export class GatewaySession {
  readonly server: string;
  readonly binding: { mandateId: string; clientId: string };
  readonly channel = new DownstreamChannel();
  readonly #upstream: UpstreamConnection;
  readonly #hooks: SessionHooks;
  /** Client requests forwarded upstream and not yet answered. */
  readonly #pending = new Map<RequestId, Pending>();
  /** Progress tokens of pending requests, so upstream notifications reach the right answer. */
  readonly #progress = new Map<string | number, RequestId>();
  /** Progress the gateway told while a request was held, by its token: the upstream's progress comes after it. */
  readonly #progressTold = new Map<string | number, number>();
  /** Cursors the upstream handed out, with when the listing they continue began. */
  readonly #cursors = new Map<string, number>();
  /** Client messages are forwarded in arrival order: each waits for the one before. */
  #forwarding: Promise<void> = Promise.resolve();
  /** Requests held for a person's decision, by id: aborted when the agent cancels one, or the session ends. */
  readonly #held = new Map<RequestId, AbortController>();
  /** Asking the person at the client, when it takes URL-mode elicitation (person-elicitation.ts). */
  readonly #person = new PersonElicitation((message, related) => this.channel.send(message, related));
  #closed = false;

  constructor(server: string, caller: CallerContext, upstream: UpstreamConnection, hooks: SessionHooks) {
    this.server = server;
    this.binding = { mandateId: caller.mandateId, clientId: caller.clientId };
    this.#upstream = upstream;
    this.#hooks = hooks;
    this.#upstream.onmessage = (message, related) => void this.#fromUpstream(message, related);
    this.#upstream.onclose = () => void this.close(`the upstream server ${server} has gone away`);
  }

  get sessionId(): string {
    return this.channel.sessionId;
  }

  start(): Promise<void> {
    return this.#upstream.start();
  }

  /** When the agent last sent something (performance.now()). */
  lastActive = performance.now();

  /** Ends the session; `now`: its authority ended, so its upstream is stopped at once (see UpstreamConnection.close). */
  async close(reason?: string, options: CloseOptions = {}): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const held of this.#held.values()) held.abort();
    this.#person.close();
    this.#hooks.onClose(this);
    this.channel.close(reason);
    await this.#upstream.close(options).catch(() => undefined);
  }

  /** The messages of one POST from the agent, authenticated as `caller`. */
  receive(res: ServerResponse, messages: JsonRpcMessage[], batch: boolean, caller: CallerContext): void {
    const started = performance.now();
    this.lastActive = started;
    this.channel.accept(res, messages, batch);
    for (const message of messages) {
      this.#forwarding = this.#forwarding.then(() => this.#fromDownstream(message, caller, started)).catch(() => undefined);
    }
  }

  async #fromDownstream(message: JsonRpcMessage, caller: CallerContext, started: number): Promise<void> {
    if (this.#closed) return;
    const request = isRequest(message);
    const id = message.id as RequestId;
    if (!request && this.#person.answered(message)) return;
    if (request && message.method === 'initialize') this.#person.initialized(message.params);
    let governed: GovernedRequest | undefined;
    if (request && message.method !== undefined && message.method in GOVERNED) {
      const method = message.method as GovernedMethod;
      const target = message.params?.[GOVERNED[method]];
      governed = { caller, method, target: typeof target === 'string' ? target : '', arguments: message.params?.arguments, started };
      const decision = await this.#decided(() => this.#hooks.decide(governed as GovernedRequest));
      if ('hold' in decision) {
        this.#hold(message, caller, governed, decision);
        return;
      }
      if (!decision.allow) {
        this.#refuse(id, governed, decision);
        return;
      }
    } else if (message.method === 'notifications/cancelled' && this.#held.has((message.params as { requestId?: RequestId } | undefined)?.requestId as RequestId)) {
      // Cancelling a held request ends the hold; the upstream never saw it.
      this.#held.get((message.params as { requestId: RequestId }).requestId)?.abort();
      return;
    }
    await this.#forward(message, request, caller, governed);
  }

  /** A decision, or the refusal its failure is (fail closed). */
  async #decided(decide: () => Promise<Decision>): Promise<Decision> {
    try {
      return await decide();
    } catch (error) {
      return { allow: false, code: 'decision_failed', message: `denied: the request could not be decided and recorded (${(error as Error).message})` };
    }
  }

  #refuse(id: RequestId, governed: GovernedRequest, decision: { code: string; message: string; data?: Record<string, unknown>; ask?: AskPerson }): void {
    const data = { code: decision.code, server: this.server, method: governed.method, target: governed.target, ...decision.data };
    const error = this.#person.available(decision.ask) ? this.#person.required(decision.ask, decision.message, data) : { code: GATEWAY_DENIED, message: decision.message, data };
    this.channel.send({ jsonrpc: '2.0', id, error });
  }

  /**
   * Waits for a held request's decision out of the arrival order, then forwards or
   * refuses it; a cancelled one is dropped. Its person is asked directly when the
   * client takes URL-mode elicitation; declining there answers with the refusal now.
   */
  #hold(message: JsonRpcMessage, caller: CallerContext, governed: GovernedRequest, held: Extract<Decision, { hold: unknown }>): void {
    const id = message.id as RequestId;
    const controller = new AbortController();
    this.#held.set(id, controller);
    const elicitation = this.#person.available(held.ask) ? this.#person.hold(id, held.ask, controller) : null;
    const progress = this.#holdProgress(message, held.waiting);
    void this.#decided(() => held.hold(controller.signal)).then(async (decision) => {
      this.#held.delete(id);
      progress?.stop(!this.#closed && !controller.signal.aborted && !('hold' in decision) && decision.allow);
      const declined = controller.signal.aborted && controller.signal.reason === DECLINED;
      // Decided, when it did not end by time, cancellation or its person declining: the page's part is complete.
      const decided = !controller.signal.aborted && !('hold' in decision) && (decision.allow || decision.code !== APPROVAL_REQUIRED);
      if (elicitation !== null) this.#person.holdEnded(elicitation, decided);
      if (this.#closed || (controller.signal.aborted && !declined)) return;
      if ('hold' in decision || !decision.allow) {
        this.#refuse(id, governed, 'hold' in decision ? { code: 'decision_failed', message: 'denied: the request was held twice' } : decision);
        return;
      }
      await this.#forward(message, true, caller, governed);
    });
  }

  /**
   * Tells a held request that asked for progress (`_meta.progressToken`) what it waits
   * for, at once and then every holdProgressMs, so a client that resets its timeout on
   * progress keeps waiting for the person. The upstream's own progress on that token
   * later continues from there (see #fromUpstream), so progress only ever increases.
   */
  #holdProgress(message: JsonRpcMessage, waiting: string | undefined): { stop: (forwarded: boolean) => void } | null {
    const token = (message.params?._meta as { progressToken?: string | number } | undefined)?.progressToken;
    if (waiting === undefined || (typeof token !== 'string' && typeof token !== 'number')) return null;
    const id = message.id as RequestId;
    const tell = () => {
      const told = (this.#progressTold.get(token) ?? 0) + 1;
      this.#progressTold.set(token, told);
      this.channel.send({ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: token, progress: told, message: waiting } }, id);
    };
    tell();
    const timer = setInterval(tell, this.#hooks.holdProgressMs ?? HOLD_PROGRESS_MS).unref();
    return {
      stop: (forwarded) => {
        clearInterval(timer);
        // Forwarded, its progress continues from what was told (forgotten with the request); otherwise it is over.
        if (!forwarded) this.#progressTold.delete(token);
      },
    };
  }

  async #forward(message: JsonRpcMessage, request: boolean, caller: CallerContext, governed: GovernedRequest | undefined): Promise<void> {
    const id = message.id as RequestId;
    if (request) {
      const pending: Pending = { method: message.method as string, caller, ...(governed ? { governed } : {}) };
      if (LISTINGS[pending.method]) pending.listingStartedAt = this.#listingStart(message.params?.cursor);
      this.#pending.set(id, pending);
      const token = (message.params?._meta as { progressToken?: string | number } | undefined)?.progressToken;
      if (token !== undefined) this.#progress.set(token, id);
    }
    try {
      await this.#upstream.send(message);
    } catch (error) {
      if (!request) return;
      this.#forget(id);
      this.channel.send({ jsonrpc: '2.0', id, error: { code: -32603, message: `the upstream server is unavailable: ${(error as Error).message}` } });
    }
  }

  #listingStart(cursor: unknown): number {
    const now = Math.floor(Date.now() / 1000);
    const started = typeof cursor === 'string' ? this.#cursors.get(cursor) : undefined;
    return started !== undefined && now - started <= LISTING_WINDOW_SECONDS ? started : now;
  }

  #forget(id: RequestId): Pending | undefined {
    const pending = this.#pending.get(id);
    this.#pending.delete(id);
    for (const [token, requestId] of this.#progress) {
      if (requestId !== id) continue;
      this.#progress.delete(token);
      this.#progressTold.delete(token);
    }
    return pending;
  }

  async #fromUpstream(message: JsonRpcMessage, relatedRequestId?: RequestId): Promise<void> {
    if (!isResponse(message)) {
      // Notifications and server-initiated requests: onto the answer of the request they
      // belong to, as the upstream transport says, or by progress token, or the latest.
      const token = (message.params as { progressToken?: string | number } | undefined)?.progressToken;
      const related = (relatedRequestId !== undefined && this.#pending.has(relatedRequestId) ? relatedRequestId : undefined)
        ?? (token !== undefined ? this.#progress.get(token) : undefined) ?? lastKey(this.#pending);
      const told = token !== undefined && message.method === 'notifications/progress' ? this.#progressTold.get(token) : undefined;
      this.channel.send(told === undefined ? message : afterTold(message, told), related);
      return;
    }
    const pending = this.#forget(message.id as RequestId);
    if (pending?.governed) {
      const { method, target } = pending.governed;
      const failed = message.error !== undefined || message.result?.isError === true;
      const secrets = method === 'tools/call' ? secretsInReply(message) : [];
      const withheld = this.#hooks.blocksSecretReplies() ? secrets.filter(withholds) : [];
      try {
        if (withheldByGuard(message)) await this.#hooks.recordResult(pending.governed, 'denied', { secrets, reason: REPLY_CARRIES_CREDENTIAL });
        else if (withheld.length === 0) await this.#hooks.recordResult(pending.governed, failed ? 'error' : 'ok', { secrets, rpcError: message.error !== undefined });
        else {
          await this.#hooks.recordResult(pending.governed, 'denied', { secrets, reason: REPLY_CARRIES_SECRET });
          const carries = withheld.length === 1 ? 'a secret' : 'secrets';
          message = {
            jsonrpc: '2.0', id: message.id as RequestId, error: {
              code: GATEWAY_DENIED, message: `denied: the reply of ${this.server}/${target} carries ${carries} (${withheld.join(', ')}) and was withheld`,
              data: { code: REPLY_CARRIES_SECRET, server: this.server, method, target, secrets: withheld },
            },
          };
        }
      } catch (error) {
        // Unrecorded, the answer must not reach the agent.
        message = { jsonrpc: '2.0', id: message.id as RequestId, error: { code: -32603, message: `the result could not be recorded in the audit log (${(error as Error).message})` } };
      }
    }
    const listing = pending ? LISTINGS[pending.method] : undefined;
    if (listing && pending && Array.isArray(message.result?.[listing.key])) {
      const listed = (message.result[listing.key] as Array<Record<string, unknown>>).filter((item) => typeof item?.[listing.field] === 'string');
      const started = pending.listingStartedAt ?? Math.floor(Date.now() / 1000);
      if (typeof message.result.nextCursor === 'string' && this.#cursors.size < 1000) this.#cursors.set(message.result.nextCursor, started);
      const visible = await this.#hooks.visible(pending.caller, listing.method, listed.map((item) => item[listing.field] as string), started).catch(() => new Set<string>());
      message = { ...message, result: { ...message.result, [listing.key]: listed.filter((item) => visible.has(item[listing.field] as string)) } };
    }
    this.channel.send(message);
  }
}

/** How often a held request that asked for progress is told it still waits. */
const HOLD_PROGRESS_MS = 15_000;

/** The upstream's progress notification, counted on from what the gateway told while the request was held. */
function afterTold(message: JsonRpcMessage, told: number): JsonRpcMessage {
  const params = message.params as { progress?: unknown; total?: unknown };
  if (typeof params.progress !== 'number') return message;
  return { ...message, params: { ...message.params, progress: params.progress + told, ...(typeof params.total === 'number' ? { total: params.total + told } : {}) } };
}

function lastKey<K>(map: Map<K, unknown>): K | undefined {
  let last: K | undefined;
  for (const key of map.keys()) last = key;
  return last;
}
