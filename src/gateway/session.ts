// One agent session through the gateway: the downstream streamable-HTTP transport
// (toward the agent) relayed message by message to its own upstream transport.
// Requests that act (`tools/call`) are decided before they leave; listings
// (`tools/list`) are filtered on their way back. Everything else passes unchanged,
// both ways, including server-initiated requests and notifications.
import { randomUUID } from 'node:crypto';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage, RequestId } from '@modelcontextprotocol/sdk/types.js';
import type { Agent } from '../store/types.ts';

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
}

export type Decision = { allow: true } | { allow: false; code: string; message: string };

export interface ToolCall {
  caller: CallerContext;
  tool: string;
  arguments: unknown;
  /** performance.now() when the request arrived. */
  started: number;
}

export interface SessionHooks {
  /** Decides one tools/call and records the decision; an allow has already counted the call. */
  decideToolCall: (call: ToolCall) => Promise<Decision>;
  /** Of the tools an upstream lists, those this caller may use. */
  visibleTools: (caller: CallerContext, names: string[]) => Promise<Set<string>>;
  /** Records the result of an allowed call; the answer reaches the agent only after this. */
  recordResult: (call: ToolCall, outcome: 'ok' | 'error') => Promise<void>;
  onClose: (session: GatewaySession) => void;
}

/** JSON-RPC error code for a request the gateway refused (implementation-defined range). */
export const GATEWAY_DENIED = -32003;

type Message = JSONRPCMessage & { id?: RequestId; method?: string; params?: Record<string, unknown>; result?: Record<string, unknown> };

export class GatewaySession {
  readonly server: string;
  readonly binding: { mandateId: string; clientId: string };
  readonly downstream: StreamableHTTPServerTransport;
  readonly #upstream: Transport;
  readonly #hooks: SessionHooks;
  /** Downstream requests forwarded upstream and not yet answered. */
  readonly #pending = new Map<RequestId, { method: string; caller: CallerContext; call?: ToolCall }>();
  /** Progress tokens of pending requests, so upstream notifications reach the right stream. */
  readonly #progress = new Map<string | number, RequestId>();
  #closed = false;

  constructor(server: string, caller: CallerContext, upstream: Transport, hooks: SessionHooks, onInitialized: (session: GatewaySession) => void) {
    this.server = server;
    this.binding = { mandateId: caller.mandateId, clientId: caller.clientId };
    this.#upstream = upstream;
    this.#hooks = hooks;
    this.downstream = new StreamableHTTPServerTransport({ sessionIdGenerator: () => randomUUID(), onsessioninitialized: () => onInitialized(this) });
    this.downstream.onmessage = (message, extra) => {
      void this.#fromDownstream(message as Message, (extra?.authInfo?.extra?.caller as CallerContext | undefined) ?? caller);
    };
    this.downstream.onclose = () => void this.close();
    this.#upstream.onmessage = (message) => void this.#fromUpstream(message as Message);
    this.#upstream.onclose = () => void this.close();
    this.#upstream.onerror = () => undefined;
  }

  start(): Promise<void> {
    return this.#upstream.start();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#hooks.onClose(this);
    await Promise.allSettled([this.#upstream.close(), this.downstream.close()]);
  }

  async #fromDownstream(message: Message, caller: CallerContext): Promise<void> {
    const started = performance.now();
    const isRequest = message.method !== undefined && message.id !== undefined;
    let call: ToolCall | undefined;
    if (isRequest && message.method === 'tools/call') {
      const tool = typeof message.params?.name === 'string' ? message.params.name : '';
      call = { caller, tool, arguments: message.params?.arguments, started };
      let decision: Decision;
      try {
        decision = await this.#hooks.decideToolCall(call);
      } catch (error) {
        decision = { allow: false, code: 'decision_failed', message: `denied: the call could not be decided and recorded (${(error as Error).message})` };
      }
      if (!decision.allow) {
        await this.downstream.send({ jsonrpc: '2.0', id: message.id as RequestId, error: { code: GATEWAY_DENIED, message: decision.message, data: { code: decision.code, server: this.server, tool } } }, { relatedRequestId: message.id as RequestId });
        return;
      }
    }
    if (isRequest) {
      this.#pending.set(message.id as RequestId, { method: message.method as string, caller, ...(call ? { call } : {}) });
      const token = (message.params?._meta as { progressToken?: string | number } | undefined)?.progressToken;
      if (token !== undefined) this.#progress.set(token, message.id as RequestId);
    }
    await this.#upstream.send(message).catch(async (error: Error) => {
      if (!isRequest) return;
      this.#pending.delete(message.id as RequestId);
      await this.downstream.send({ jsonrpc: '2.0', id: message.id as RequestId, error: { code: -32603, message: `the upstream server is unavailable: ${error.message}` } }, { relatedRequestId: message.id as RequestId });
    });
  }

  async #fromUpstream(message: Message): Promise<void> {
    const isResponse = message.method === undefined && message.id !== undefined;
    if (isResponse) {
      const pending = this.#pending.get(message.id as RequestId);
      this.#pending.delete(message.id as RequestId);
      for (const [token, id] of this.#progress) if (id === message.id) this.#progress.delete(token);
      if (pending?.call) {
        const failed = 'error' in message || message.result?.isError === true;
        try {
          await this.#hooks.recordResult(pending.call, failed ? 'error' : 'ok');
        } catch (error) {
          // Unrecorded, the answer must not reach the agent.
          message = { jsonrpc: '2.0', id: message.id as RequestId, error: { code: -32603, message: `the result could not be recorded in the audit log (${(error as Error).message})` } } as Message;
        }
      }
      if (pending?.method === 'tools/list' && Array.isArray(message.result?.tools)) {
        const listed = (message.result.tools as Array<{ name?: unknown }>).filter((t): t is { name: string } => typeof t.name === 'string');
        const visible = await this.#hooks.visibleTools(pending.caller, listed.map((t) => t.name)).catch(() => new Set<string>());
        message = { ...message, result: { ...message.result, tools: listed.filter((t) => visible.has(t.name)) } } as Message;
      }
      await this.downstream.send(message, { relatedRequestId: message.id as RequestId }).catch(() => undefined);
      return;
    }
    // Notifications and server-initiated requests: onto the stream of the request they belong to.
    const token = (message.params as { progressToken?: string | number } | undefined)?.progressToken;
    const related = (token !== undefined ? this.#progress.get(token) : undefined) ?? [...this.#pending.keys()].at(-1);
    await this.downstream.send(message, related === undefined ? undefined : { relatedRequestId: related }).catch(() => undefined);
  }
}
