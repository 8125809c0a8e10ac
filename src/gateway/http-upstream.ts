// An upstream MCP server over streamable HTTP, the client side of one session. Each
// message is a POST on a kept-alive connection; a JSON or event-stream answer is read
// as it comes and every message on it is tagged with the request it answers, so the
// gateway puts progress and server requests on the right agent stream. After
// initialization a GET stream carries what the server sends outside any request.
// A server may end the event stream of an answer before its response and expect the
// client to resume it (SEP-1699 polling): it is resumed with a GET carrying Last-Event-ID.
// The agent's credentials never come here: the upstream sees only the gateway, with
// the server's own credentials (injected headers) on every request when it has any.
import { StringDecoder } from 'node:string_decoder';
import { Pool, type Dispatcher } from 'undici';
import { SseReader } from './sse.ts';
import { isRequest, isResponse, type JsonRpcMessage, type RequestId } from './streamable-http.ts';
import type { UpstreamConnection } from './upstream.ts';

const MAX_BODY = 16 * 1024 * 1024;
const STREAM_RETRIES = 3;
/** Resumptions of an answer in a row that bring no new event before its request fails. */
const ANSWER_RESUMES = 5;
/** The delay before resuming when the server gave no retry hint (as the SDK client waits). */
const DEFAULT_RETRY_MS = 1000;
/** Kept-alive connections to one upstream, shared by the session's requests. */
const CONNECTIONS = 32;

/** How far an event-stream answer has come, across the streams it was resumed on. */
interface AnswerStream {
  answered: boolean;
  lastEventId: string | undefined;
  retry: number | undefined;
}

/** An answer from the upstream: status, headers and the body as a stream. */
type Answer = Dispatcher.ResponseData;
type Body = Answer['body'];

const header = (headers: Answer['headers'], name: string): string => {
  const value = headers[name];
  return (Array.isArray(value) ? value[0] : value) ?? '';
};

export class HttpUpstream implements UpstreamConnection {
  onmessage?: (message: JsonRpcMessage, relatedRequestId?: RequestId) => void;
  onclose?: () => void;
  readonly #path: string;
  readonly #name: string;
  readonly #injected: Readonly<Record<string, string>>;
  // undici rather than node:http: about half the CPU per request on the hot path.
  readonly #pool: Pool;
  #sessionId: string | undefined;
  #protocolVersion: string | undefined;
  #initializeId: RequestId | undefined;
  #stream: Body | null = null;
  #streamFailures = 0;
  #closed = false;

  constructor(url: URL, name: string, injected: Readonly<Record<string, string>> = {}) {
    this.#path = `${url.pathname}${url.search}`;
    this.#name = name;
    this.#injected = injected;
    // No time limits of its own: a tool may take long to answer and a stream may be quiet for long.
    this.#pool = new Pool(url.origin, { connections: CONNECTIONS, headersTimeout: 0, bodyTimeout: 0 });
  }

  async start(): Promise<void> {}

  /** Resolves once the message is on its way; what comes back is delivered through `onmessage`. */
  async send(message: JsonRpcMessage): Promise<void> {
    if (this.#closed) throw new Error(`the connection to ${this.#name} is closed`);
    if (message.method === 'initialize' && message.id !== undefined) this.#initializeId = message.id;
    const related = isRequest(message) ? (message.id as RequestId) : undefined;
    const body = JSON.stringify(message);
    // Every call comes this way: its answer is read as undici hands it over, without a
    // body stream in between (which cost some 30,000 instructions per call).
    this.#pool.dispatch({
      path: this.#path, method: 'POST', body,
      headers: { ...this.#headers(), 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    }, this.#postAnswer(message, related));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#stream?.destroy();
    if (this.#sessionId !== undefined) {
      await this.#pool.request({ path: this.#path, method: 'DELETE', headers: this.#headers(), headersTimeout: 1000, bodyTimeout: 1000 })
        .then((answer) => answer.body.dump())
        .catch(() => undefined);
    }
    await this.#pool.destroy().catch(() => undefined);
    this.onclose?.();
  }

  #headers(): Record<string, string> {
    const headers: Record<string, string> = { ...this.#injected };
    if (this.#sessionId !== undefined) headers['mcp-session-id'] = this.#sessionId;
    if (this.#protocolVersion !== undefined) headers['mcp-protocol-version'] = this.#protocolVersion;
    return headers;
  }

  /** How the answer to a POST is read: a JSON body whole, an event stream event by event, anything else dropped. */
  #postAnswer(sent: JsonRpcMessage, related: RequestId | undefined): Dispatcher.DispatchHandler {
    let started = false;
    let json: Buffer[] | null = null;
    let size = 0;
    let events: { reader: SseReader; decoder: StringDecoder; answer: AnswerStream } | null = null;
    return {
      onRequestStart: () => undefined, // present, so undici speaks this (controller) interface
      onResponseStart: (_controller, status, headers) => {
        started = true;
        const session = header(headers, 'mcp-session-id');
        if (sent.method === 'initialize' && session !== '') this.#sessionId = session;
        if (status === 202 || (status >= 200 && status < 300 && related === undefined)) {
          if (sent.method === 'notifications/initialized') this.#openStream();
          return;
        }
        if (status < 200 || status >= 300) {
          if (status === 404 && this.#sessionId !== undefined) void this.close(); // the upstream forgot the session
          if (related !== undefined) this.#fail(related, `the upstream server ${this.#name} answered HTTP ${status}`);
          return;
        }
        if (header(headers, 'content-type').startsWith('text/event-stream')) {
          const answer: AnswerStream = { answered: false, lastEventId: undefined, retry: undefined };
          events = { reader: this.#answerReader(related, answer), decoder: new StringDecoder('utf8'), answer };
          return;
        }
        json = [];
      },
      onResponseData: (controller, chunk) => {
        if (events) {
          events.reader.push(events.decoder.write(chunk));
          events.answer.lastEventId = events.reader.lastEventId ?? events.answer.lastEventId;
          events.answer.retry = events.reader.retry ?? events.answer.retry;
        } else if (json) {
          size += chunk.length;
          if (size > MAX_BODY) controller.abort(new Error('answer too large'));
          else json.push(chunk);
        }
      },
      onResponseEnd: () => {
        if (events) {
          events.reader.push(events.decoder.end());
          this.#answerStreamClosed(related, events.answer, undefined, 0, true);
        }
        else if (json) this.#deliverText(Buffer.concat(json).toString('utf8'), related, true);
      },
      onResponseError: (_controller, error) => {
        if (!started) {
          if (related !== undefined) this.#fail(related, `the upstream server ${this.#name} could not be reached: ${error.message}`);
        } else if (events) {
          this.#answerStreamClosed(related, events.answer, undefined, 0, false);
        } else if (json && related !== undefined) {
          json = null;
          this.#fail(related, `the upstream server ${this.#name} broke off its answer: ${error.message}`);
        }
      },
    };
  }

  /**
   * Reads an event-stream answer to the request `related`. When it ends before the
   * response, the answer is resumed after the server's retry delay from the last event
   * id it sent; with no id to resume from (or after too many fruitless resumptions),
   * the request fails rather than stay open for ever.
   */
  #readAnswerStream(body: Body, related: RequestId | undefined, answer: AnswerStream, resumes: number): void {
    const reader = this.#answerReader(related, answer);
    const resumedFrom = answer.lastEventId;
    let complete = false;
    body.setEncoding('utf8');
    body.on('data', (chunk: string) => {
      reader.push(chunk);
      answer.lastEventId = reader.lastEventId ?? answer.lastEventId;
      answer.retry = reader.retry ?? answer.retry;
    });
    body.once('end', () => {
      complete = true;
    });
    body.once('error', () => undefined); // seen on 'close', with the answer incomplete
    body.once('close', () => this.#answerStreamClosed(related, answer, resumedFrom, resumes, complete));
  }

  #answerReader(related: RequestId | undefined, answer: AnswerStream): SseReader {
    return new SseReader((data) => {
      if (this.#deliverText(data, related, false)) answer.answered = true;
    });
  }

  /** An event-stream answer has ended (`complete`) or broken off: done, resumed, or failed when it cannot be. */
  #answerStreamClosed(related: RequestId | undefined, answer: AnswerStream, resumedFrom: string | undefined, resumes: number, complete: boolean): void {
    if (answer.answered || related === undefined || this.#closed) return;
    const fruitless = answer.lastEventId === resumedFrom ? resumes + 1 : 1;
    if (answer.lastEventId === undefined || fruitless > ANSWER_RESUMES) {
      this.#fail(related, `the upstream server ${this.#name} ${complete ? 'ended' : 'broke off'} its answer without responding`);
      return;
    }
    setTimeout(() => this.#resumeAnswer(related, answer, fruitless), answer.retry ?? DEFAULT_RETRY_MS).unref();
  }

  #resumeAnswer(related: RequestId, answer: AnswerStream, resumes: number): void {
    if (this.#closed) return;
    this.#pool.request({ path: this.#path, method: 'GET', headers: { ...this.#headers(), accept: 'text/event-stream', 'last-event-id': answer.lastEventId as string } }).then(
      (resumed) => {
        if (resumed.statusCode !== 200 || !header(resumed.headers, 'content-type').startsWith('text/event-stream')) {
          void resumed.body.dump();
          this.#fail(related, `the upstream server ${this.#name} answered HTTP ${resumed.statusCode} when its answer was resumed`);
          return;
        }
        this.#readAnswerStream(resumed.body, related, answer, resumes);
      },
      (error: Error) => this.#fail(related, `the upstream server ${this.#name} could not be reached to resume its answer: ${error.message}`),
    );
  }

  /**
   * Delivers the messages of a JSON answer (`whole`: the entire answer) or of one event;
   * true when they include the response to `related`.
   */
  #deliverText(text: string, related: RequestId | undefined, whole: boolean): boolean {
    // An event without data carries no message: the priming event a server sends first
    // on every answer stream so that it can be resumed (SEP-1699). Not parsed, since a
    // failed JSON.parse builds a SyntaxError with its stack trace, once per call.
    if (!whole && text === '') return false;
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
    let ended = false;
    const retry = () => {
      if (ended) return;
      ended = true;
      this.#stream = null;
      if (this.#closed || ++this.#streamFailures > STREAM_RETRIES) return;
      setTimeout(() => this.#openStream(), 1000 * this.#streamFailures).unref();
    };
    this.#pool.request({ path: this.#path, method: 'GET', headers: { ...this.#headers(), accept: 'text/event-stream' } }).then((answer) => {
      if (answer.statusCode !== 200 || !header(answer.headers, 'content-type').startsWith('text/event-stream')) {
        void answer.body.dump();
        return; // no stream offered (405) or refused: server messages come on request answers only
      }
      const { body } = answer;
      this.#stream = body;
      this.#streamFailures = 0;
      body.setEncoding('utf8');
      const reader = new SseReader((data) => void this.#deliverText(data, undefined, false));
      body.on('data', (chunk: string) => reader.push(chunk));
      body.once('end', retry);
      body.once('error', retry);
    }, retry);
  }
}
