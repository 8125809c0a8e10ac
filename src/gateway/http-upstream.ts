// An upstream MCP server over streamable HTTP, the client side of one session. Each
// message is a POST on a kept-alive connection; a JSON or event-stream answer is read
// as it comes and every message on it is tagged with the request it answers, so the
// gateway puts progress and server requests on the right agent stream. After
// initialization a GET stream carries what the server sends outside any request.
// A server may end the event stream of an answer before its response and expect the
// client to resume it (SEP-1699 polling): it is resumed with a GET carrying Last-Event-ID.
// The agent's credentials never come here: the upstream sees only the gateway.
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { SseReader } from './sse.ts';
import { isRequest, isResponse, type JsonRpcMessage, type RequestId } from './streamable-http.ts';
import type { UpstreamConnection } from './upstream.ts';

const MAX_BODY = 16 * 1024 * 1024;
const STREAM_RETRIES = 3;
/** Resumptions of an answer in a row that bring no new event before its request fails. */
const ANSWER_RESUMES = 5;
/** The delay before resuming when the server gave no retry hint (as the SDK client waits). */
const DEFAULT_RETRY_MS = 1000;

/** How far an event-stream answer has come, across the streams it was resumed on. */
interface AnswerStream {
  answered: boolean;
  lastEventId: string | undefined;
  retry: number | undefined;
}

export class HttpUpstream implements UpstreamConnection {
  onmessage?: (message: JsonRpcMessage, relatedRequestId?: RequestId) => void;
  onclose?: () => void;
  readonly #url: URL;
  readonly #name: string;
  readonly #agent: HttpAgent;
  readonly #request: typeof httpRequest;
  #sessionId: string | undefined;
  #protocolVersion: string | undefined;
  #initializeId: RequestId | undefined;
  #stream: IncomingMessage | null = null;
  #streamFailures = 0;
  #closed = false;

  constructor(url: URL, name: string) {
    this.#url = url;
    this.#name = name;
    const https = url.protocol === 'https:';
    this.#agent = https ? new HttpsAgent({ keepAlive: true, maxSockets: 32 }) : new HttpAgent({ keepAlive: true, maxSockets: 32 });
    this.#request = https ? (httpsRequest as unknown as typeof httpRequest) : httpRequest;
  }

  async start(): Promise<void> {}

  /** Resolves once the message is on its way; what comes back is delivered through `onmessage`. */
  send(message: JsonRpcMessage): Promise<void> {
    if (this.#closed) return Promise.reject(new Error(`the connection to ${this.#name} is closed`));
    if (message.method === 'initialize' && message.id !== undefined) this.#initializeId = message.id;
    const related = isRequest(message) ? (message.id as RequestId) : undefined;
    const body = JSON.stringify(message);
    return new Promise((resolve, reject) => {
      const req = this.#request(this.#url, { method: 'POST', agent: this.#agent, headers: { ...this.#headers(), 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'content-length': Buffer.byteLength(body) } });
      let sent = false;
      req.once('finish', () => {
        sent = true;
        resolve();
      });
      req.once('error', (error) => {
        if (!sent) reject(error);
        else if (related !== undefined) this.#fail(related, `the upstream server ${this.#name} broke off: ${error.message}`);
      });
      req.once('response', (res) => this.#answer(res, message, related));
      req.end(body);
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#stream?.destroy();
    if (this.#sessionId !== undefined) {
      await new Promise<void>((resolve) => {
        const req = this.#request(this.#url, { method: 'DELETE', agent: this.#agent, headers: this.#headers(), timeout: 1000 });
        req.once('response', (res) => res.resume().once('end', resolve));
        req.once('error', () => resolve());
        req.once('timeout', () => req.destroy());
        req.end();
      });
    }
    this.#agent.destroy();
    this.onclose?.();
  }

  #headers(): Record<string, string> {
    const headers: Record<string, string> = {};
    if (this.#sessionId !== undefined) headers['mcp-session-id'] = this.#sessionId;
    if (this.#protocolVersion !== undefined) headers['mcp-protocol-version'] = this.#protocolVersion;
    return headers;
  }

  #answer(res: IncomingMessage, sent: JsonRpcMessage, related: RequestId | undefined): void {
    const session = res.headers['mcp-session-id'];
    if (sent.method === 'initialize' && typeof session === 'string') this.#sessionId = session;
    const status = res.statusCode ?? 0;
    if (status === 202 || (status >= 200 && status < 300 && related === undefined)) {
      res.resume();
      if (sent.method === 'notifications/initialized') this.#openStream();
      return;
    }
    if (status < 200 || status >= 300) {
      res.resume();
      if (status === 404 && this.#sessionId !== undefined) void this.close(); // the upstream forgot the session
      if (related !== undefined) this.#fail(related, `the upstream server ${this.#name} answered HTTP ${status}`);
      return;
    }
    if ((res.headers['content-type'] ?? '').startsWith('text/event-stream')) {
      this.#readAnswerStream(res, related, { answered: false, lastEventId: undefined, retry: undefined }, 0);
      return;
    }
    res.setEncoding('utf8');
    let text = '';
    res.on('data', (chunk: string) => {
      text += chunk;
      if (text.length > MAX_BODY) res.destroy(new Error('answer too large'));
    });
    res.once('end', () => this.#deliverText(text, related, true));
    res.once('error', (error) => related !== undefined && this.#fail(related, `the upstream server ${this.#name} broke off its answer: ${error.message}`));
  }

  /**
   * Reads an event-stream answer to the request `related`. When it ends before the
   * response, the answer is resumed after the server's retry delay from the last event
   * id it sent; with no id to resume from (or after too many fruitless resumptions),
   * the request fails rather than stay open for ever.
   */
  #readAnswerStream(res: IncomingMessage, related: RequestId | undefined, answer: AnswerStream, resumes: number): void {
    const reader = new SseReader((data) => {
      if (this.#deliverText(data, related, false)) answer.answered = true;
    });
    const resumedFrom = answer.lastEventId;
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      reader.push(chunk);
      answer.lastEventId = reader.lastEventId ?? answer.lastEventId;
      answer.retry = reader.retry ?? answer.retry;
    });
    res.once('error', () => undefined); // seen on 'close', with the answer incomplete
    res.once('close', () => {
      if (answer.answered || related === undefined || this.#closed) return;
      const fruitless = answer.lastEventId === resumedFrom ? resumes + 1 : 1;
      if (answer.lastEventId === undefined || fruitless > ANSWER_RESUMES) {
        this.#fail(related, `the upstream server ${this.#name} ${res.complete ? 'ended' : 'broke off'} its answer without responding`);
        return;
      }
      setTimeout(() => this.#resumeAnswer(related, answer, fruitless), answer.retry ?? DEFAULT_RETRY_MS).unref();
    });
  }

  #resumeAnswer(related: RequestId, answer: AnswerStream, resumes: number): void {
    if (this.#closed) return;
    const req = this.#request(this.#url, { method: 'GET', agent: this.#agent, headers: { ...this.#headers(), accept: 'text/event-stream', 'last-event-id': answer.lastEventId as string } });
    req.once('error', (error) => this.#fail(related, `the upstream server ${this.#name} could not be reached to resume its answer: ${error.message}`));
    req.once('response', (res) => {
      if (res.statusCode !== 200 || !(res.headers['content-type'] ?? '').startsWith('text/event-stream')) {
        res.resume();
        this.#fail(related, `the upstream server ${this.#name} answered HTTP ${res.statusCode ?? 0} when its answer was resumed`);
        return;
      }
      this.#readAnswerStream(res, related, answer, resumes);
    });
    req.end();
  }

  /**
   * Delivers the messages of a JSON answer (`whole`: the entire answer) or of one event;
   * true when they include the response to `related`.
   */
  #deliverText(text: string, related: RequestId | undefined, whole: boolean): boolean {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      if (whole && related !== undefined) this.#fail(related, `the upstream server ${this.#name} answered with something that is not JSON`);
      return false;
    }
    let responded = false;
    for (const message of Array.isArray(parsed) ? parsed : [parsed]) {
      if (typeof message !== 'object' || message === null || (message as JsonRpcMessage).jsonrpc !== '2.0') continue;
      const m = message as JsonRpcMessage;
      if (isResponse(m) && m.id === this.#initializeId && typeof m.result?.protocolVersion === 'string') this.#protocolVersion = m.result.protocolVersion;
      if (isResponse(m) && m.id === related) responded = true;
      this.onmessage?.(m, related);
    }
    return responded;
  }

  #fail(id: RequestId, message: string): void {
    this.onmessage?.({ jsonrpc: '2.0', id, error: { code: -32603, message } }, id);
  }

  /** The session's GET stream, reopened (a few times) when it ends; a server without one answers 405. */
  #openStream(): void {
    if (this.#closed || this.#stream) return;
    const req = this.#request(this.#url, { method: 'GET', agent: this.#agent, headers: { ...this.#headers(), accept: 'text/event-stream' } });
    let ended = false;
    const retry = () => {
      if (ended) return;
      ended = true;
      this.#stream = null;
      if (this.#closed || ++this.#streamFailures > STREAM_RETRIES) return;
      setTimeout(() => this.#openStream(), 1000 * this.#streamFailures).unref();
    };
    req.once('error', retry);
    req.once('response', (res) => {
      if (res.statusCode !== 200 || !(res.headers['content-type'] ?? '').startsWith('text/event-stream')) {
        res.resume();
        return; // no stream offered (405) or refused: server messages come on request answers only
      }
      this.#stream = res;
      this.#streamFailures = 0;
      res.setEncoding('utf8');
      const reader = new SseReader((data) => void this.#deliverText(data, undefined, false));
      res.on('data', (chunk: string) => reader.push(chunk));
      res.once('end', retry);
      res.once('error', retry);
    });
    req.end();
  }
}
