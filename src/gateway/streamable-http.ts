// MCP streamable HTTP toward agents, the server side of one session (revisions
// 2025-03-26, 2025-06-18 and 2025-11-25): POST carries client messages, each POST with
// requests is answered on its own response, GET opens the session's stream for
// server messages that belong to no request, DELETE ends the session.
//
// A POST's answer is chosen lazily: when the response to its request is the first
// thing that comes back, it is sent as plain `application/json`; when the server
// first sends something on the way (progress, a log line, a sampling or elicitation
// request), the answer becomes a `text/event-stream` that carries those messages and
// ends with the response. Both are what the specification allows a server to send.
import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { SUPPORTED_PROTOCOL_VERSIONS } from '@modelcontextprotocol/sdk/types.js';

export type RequestId = string | number;

/** A JSON-RPC 2.0 message as it travels: request, notification, response or error. */
export interface JsonRpcMessage {
  jsonrpc: '2.0';
  id?: RequestId;
  method?: string;
  params?: Record<string, unknown>;
  result?: Record<string, unknown>;
  error?: { code: number; message: string; data?: unknown };
}

export const isRequest = (m: JsonRpcMessage): boolean => m.method !== undefined && m.id !== undefined;
export const isResponse = (m: JsonRpcMessage): boolean => m.method === undefined && m.id !== undefined;

export { SUPPORTED_PROTOCOL_VERSIONS };

/** Before the header existed (2025-03-26), a client sent none. */
const DEFAULT_PROTOCOL_VERSION = '2025-03-26';
const MAX_BATCH = 100;
/** Server messages for the session stream kept while no GET stream is open. */
const MAX_BACKLOG = 256;
const KEEPALIVE_MS = 15_000;

/** Why a request cannot be taken, as the HTTP status and JSON-RPC error to answer with. */
export class TransportError extends Error {
  readonly status: number;
  readonly rpcCode: number;
  constructor(status: number, rpcCode: number, message: string) {
    super(message);
    this.status = status;
    this.rpcCode = rpcCode;
  }
}

export function sendRpcError(res: ServerResponse, status: number, code: number, message: string, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers })
    .end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code, message } }));
}

const validId = (id: unknown): id is RequestId => typeof id === 'string' || (typeof id === 'number' && Number.isInteger(id));

/** The JSON-RPC messages of a POST body (one, or a batch of the 2025-03-26 revision); throws a TransportError. */
export function parseMessages(body: unknown): JsonRpcMessage[] {
  const list = Array.isArray(body) ? body : [body];
  if (list.length === 0 || list.length > MAX_BATCH) throw new TransportError(400, -32600, `Invalid Request: a batch holds 1 to ${MAX_BATCH} messages`);
  for (const m of list) {
    const message = m as Partial<JsonRpcMessage> | null;
    const ok = typeof message === 'object' && message !== null && !Array.isArray(message) && message.jsonrpc === '2.0' && (
      message.method !== undefined
        ? typeof message.method === 'string' && (message.id === undefined || validId(message.id)) && (message.params === undefined || (typeof message.params === 'object' && message.params !== null))
        : validId(message.id) && ((message.result !== undefined && typeof message.result === 'object') !== (message.error !== undefined && typeof message.error === 'object'))
    );
    if (!ok) throw new TransportError(400, -32600, 'Invalid Request: not a JSON-RPC 2.0 request, notification or response');
  }
  return list as JsonRpcMessage[];
}

/** Checks the headers every POST must carry; throws a TransportError. */
export function checkPostHeaders(headers: { accept?: string; 'content-type'?: string }): void {
  const accept = headers.accept ?? '';
  if (!(accept.includes('application/json') || accept.includes('*/*')) || !(accept.includes('text/event-stream') || accept.includes('*/*'))) {
    throw new TransportError(406, -32000, 'Not Acceptable: the client must accept both application/json and text/event-stream');
  }
  if (!(headers['content-type'] ?? '').toLowerCase().startsWith('application/json')) {
    throw new TransportError(415, -32000, 'Unsupported Media Type: Content-Type must be application/json');
  }
}

/** The protocol revision a request after initialization speaks; throws a TransportError when unsupported. */
export function protocolVersion(header: string | string[] | undefined): string {
  const version = typeof header === 'string' ? header : DEFAULT_PROTOCOL_VERSION;
  if (!SUPPORTED_PROTOCOL_VERSIONS.includes(version)) {
    throw new TransportError(400, -32000, `Bad Request: unsupported protocol version ${version} (supported: ${SUPPORTED_PROTOCOL_VERSIONS.join(', ')})`);
  }
  return version;
}

/** The answer to one POST: its requests, and how far their responses have come. */
interface Exchange {
  res: ServerResponse;
  batch: boolean;
  open: Set<RequestId>;
  /** Responses held back while the answer may still be plain JSON. */
  held: JsonRpcMessage[];
  streaming: boolean;
  keepalive?: NodeJS.Timeout;
}

export class DownstreamChannel {
  readonly sessionId = randomUUID();
  readonly #exchanges = new Map<RequestId, Exchange>();
  #stream: ServerResponse | null = null;
  #streamKeepalive: NodeJS.Timeout | undefined;
  #backlog: JsonRpcMessage[] = [];
  #closed = false;

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Takes the messages of one POST. Without requests, answers 202 at once; otherwise
   * the response stays open until every request in it is answered (or the client goes).
   */
  accept(res: ServerResponse, messages: JsonRpcMessage[], batch: boolean): void {
    const ids = messages.filter(isRequest).map((m) => m.id as RequestId);
    const reused = ids.find((id, i) => this.#exchanges.has(id) || ids.indexOf(id) !== i);
    if (reused !== undefined) throw new TransportError(400, -32600, `Invalid Request: request id ${JSON.stringify(reused)} is already in use in this session`);
    if (ids.length === 0) {
      res.writeHead(202, { 'mcp-session-id': this.sessionId }).end();
      return;
    }
    const exchange: Exchange = { res, batch, open: new Set(ids), held: [], streaming: false };
    for (const id of ids) this.#exchanges.set(id, exchange);
    res.once('close', () => this.#finish(exchange));
  }

  /** Opens the session stream (GET) for server messages that belong to no request. */
  openStream(res: ServerResponse): void {
    if (this.#stream) throw new TransportError(409, -32000, 'Conflict: this session already has an open stream');
    this.#stream = res;
    res.writeHead(200, this.#sseHeaders());
    res.flushHeaders();
    this.#streamKeepalive = setInterval(() => res.write(': keepalive\n\n'), KEEPALIVE_MS).unref();
    res.once('close', () => {
      clearInterval(this.#streamKeepalive);
      if (this.#stream === res) this.#stream = null;
    });
    const backlog = this.#backlog;
    this.#backlog = [];
    for (const message of backlog) res.write(sseEvent(message));
  }

  /**
   * Sends one server message: a response on the answer of its request; anything else
   * on the answer of the request it relates to while that is open, else on the
   * session stream (kept until one opens).
   */
  send(message: JsonRpcMessage, relatedRequestId?: RequestId): void {
    if (this.#closed) return;
    if (isResponse(message)) {
      const exchange = this.#exchanges.get(message.id as RequestId);
      if (!exchange) return; // its client went away: nobody to answer
      this.#exchanges.delete(message.id as RequestId);
      exchange.open.delete(message.id as RequestId);
      if (exchange.streaming) exchange.res.write(sseEvent(message));
      else exchange.held.push(message);
      if (exchange.open.size === 0) this.#complete(exchange);
      return;
    }
    const exchange = relatedRequestId === undefined ? undefined : this.#exchanges.get(relatedRequestId);
    if (exchange) {
      this.#startStreaming(exchange);
      exchange.res.write(sseEvent(message));
    } else if (this.#stream) {
      this.#stream.write(sseEvent(message));
    } else {
      if (this.#backlog.length >= MAX_BACKLOG) this.#backlog.shift();
      this.#backlog.push(message);
    }
  }

  /** Request ids of this session still waiting for their response. */
  get openRequests(): RequestId[] {
    return [...this.#exchanges.keys()];
  }

  /** Ends the session: requests still open are answered with `reason` as an error. */
  close(reason = 'the session has ended'): void {
    if (this.#closed) return;
    for (const id of [...this.#exchanges.keys()]) this.send({ jsonrpc: '2.0', id, error: { code: -32603, message: reason } });
    this.#closed = true;
    this.#stream?.end();
  }

  #sseHeaders(): Record<string, string> {
    return { 'content-type': 'text/event-stream', 'cache-control': 'no-cache, no-transform', connection: 'keep-alive', 'x-accel-buffering': 'no', 'mcp-session-id': this.sessionId };
  }

  #startStreaming(exchange: Exchange): void {
    if (exchange.streaming) return;
    exchange.streaming = true;
    exchange.res.writeHead(200, this.#sseHeaders());
    for (const held of exchange.held) exchange.res.write(sseEvent(held));
    exchange.held = [];
    exchange.keepalive = setInterval(() => exchange.res.write(': keepalive\n\n'), KEEPALIVE_MS).unref();
  }

  #complete(exchange: Exchange): void {
    clearInterval(exchange.keepalive);
    if (exchange.streaming) {
      exchange.res.end();
      return;
    }
    const body = JSON.stringify(exchange.batch ? exchange.held : exchange.held[0]);
    exchange.res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': this.sessionId }).end(body);
  }

  /** The client closed the answer early: its unanswered requests are forgotten. */
  #finish(exchange: Exchange): void {
    clearInterval(exchange.keepalive);
    for (const id of exchange.open) if (this.#exchanges.get(id) === exchange) this.#exchanges.delete(id);
    exchange.open.clear();
  }
}

const sseEvent = (message: JsonRpcMessage): string => `event: message\ndata: ${JSON.stringify(message)}\n\n`;
