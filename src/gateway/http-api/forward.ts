// Forwards one decided request to an HTTP API upstream and relays its answer, both
// bodies streamed and bounded. The agent's own authentication (Authorization, DPoP)
// and hop-by-hop headers never go upstream, nor headers that would make the upstream
// read another method or origin (X-HTTP-Method-Override, Forwarded, X-Forwarded-*);
// the server's credentials are added as headers. The answer is read for the exact
// values injected (its headers before anything is relayed, its body as it streams,
// decoded when the upstream compressed it): an answer that carries one is withheld —
// refused before it starts, or cut off — so an API that echoes its request headers
// cannot hand the credential to the agent.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Transform, pipeline, type Readable } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import { errors as undiciErrors, type Dispatcher } from 'undici';
import type { InjectedSecrets } from '../../credentials/injected-secrets.ts';
import { MandateError } from '../../errors.ts';

export interface ForwardLimits {
  /** Largest request body relayed (bytes). */
  maxRequestBytes: number;
  /** Largest answer body relayed (bytes, as decoded). */
  maxResponseBytes: number;
  /** How long the upstream may take to start answering, and to send the next piece of its body (ms). */
  headersTimeoutMs: number;
  bodyTimeoutMs: number;
}

export const DEFAULT_FORWARD_LIMITS: ForwardLimits = { maxRequestBytes: 16 * 1024 * 1024, maxResponseBytes: 64 * 1024 * 1024, headersTimeoutMs: 30_000, bodyTimeoutMs: 30_000 };

export interface ForwardTarget {
  /** The upstream's origin and the full path with query to ask it for. */
  origin: string;
  path: string;
  method: string;
  /** Injected headers (lower-case names): they replace any the agent sent. */
  headers: Readonly<Record<string, string>>;
  guard: InjectedSecrets;
  /** The request body already read whole (a request that needed approval is decided on its bytes): sent as is instead of streamed. */
  body?: Buffer;
}

/** How the exchange ended, for the result event. */
export interface Forwarded {
  /** The status relayed to the agent (the upstream's, or Mandate's own refusal). */
  status: number;
  outcome: 'ok' | 'error' | 'denied';
  reason: string | null;
}

/** Headers meaningful for one connection only (RFC 9110 §7.6.1), and those the gateway owns. */
const NOT_FORWARDED = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host', 'expect',
  'authorization', 'proxy-authorization', 'dpop', 'accept-encoding',
  'x-http-method-override', 'x-http-method', 'x-method-override', 'forwarded', 'x-real-ip',
]);
const NOT_RELAYED = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'proxy-authenticate']);

const connectionTokens = (value: string | string[] | undefined): Set<string> =>
  new Set((Array.isArray(value) ? value.join(',') : value ?? '').split(',').map((t) => t.trim().toLowerCase()).filter((t) => t !== ''));

/** The agent's headers as they go upstream, the injected ones in place of any of the same name. */
export function upstreamHeaders(incoming: IncomingMessage['headers'], injected: Readonly<Record<string, string>>): Record<string, string | string[]> {
  const listed = connectionTokens(incoming.connection);
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined || NOT_FORWARDED.has(name) || listed.has(name) || name.startsWith('x-forwarded-') || name in injected) continue;
    out[name] = value;
  }
  // Uncompressed, so the answer can be read for the credentials as it streams.
  out['accept-encoding'] = 'identity';
  return { ...out, ...injected };
}

/** The upstream's headers as they go to the agent. */
function relayedHeaders(headers: Dispatcher.ResponseData['headers'], decoded: boolean): Record<string, string | string[]> {
  const listed = connectionTokens(headers.connection);
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || NOT_RELAYED.has(name) || listed.has(name)) continue;
    if (decoded && (name === 'content-encoding' || name === 'content-length')) continue;
    out[name] = value;
  }
  return out;
}

const DECODERS: Record<string, () => Transform> = { gzip: createGunzip, 'x-gzip': createGunzip, deflate: createInflate, br: createBrotliDecompress };

/** Counts the request body as it streams; past the limit the upload fails. */
function boundedBody(req: IncomingMessage, maxBytes: number): Readable {
  let size = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      size += chunk.length;
      if (size > maxBytes) done(new MandateError('body_too_large', `the request body is larger than ${maxBytes} bytes`, { status: 413 }));
      else done(null, chunk);
    },
  });
  req.pipe(counter);
  req.once('error', (error) => counter.destroy(error));
  return counter;
}

/**
 * Reads the answer for the injected values, holding back the tail of each chunk that
 * could be the start of one split across chunks; counts what it relays.
 */
class AnswerReader extends Transform {
  readonly #guard: InjectedSecrets;
  readonly #hold: number;
  readonly #maxBytes: number;
  #tail = Buffer.alloc(0);
  #size = 0;
  found: 'reply_carries_credential' | 'reply_too_large' | null = null;

  constructor(guard: InjectedSecrets, maxBytes: number) {
    super();
    this.#guard = guard;
    this.#hold = Math.max(0, guard.longestBytes - 1);
    this.#maxBytes = maxBytes;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null, data?: Buffer) => void): void {
    this.#size += chunk.length;
    if (this.#size > this.#maxBytes) return this.#stop('reply_too_large', done);
    const window = this.#tail.length > 0 ? Buffer.concat([this.#tail, chunk]) : chunk;
    if (!this.#guard.empty && this.#guard.carriesBytes(window)) return this.#stop('reply_carries_credential', done);
    const keep = Math.min(this.#hold, window.length);
    this.#tail = Buffer.from(window.subarray(window.length - keep));
    done(null, window.subarray(0, window.length - keep));
  }

  override _flush(done: (error?: Error | null, data?: Buffer) => void): void {
    done(null, this.#tail);
  }

  #stop(why: 'reply_carries_credential' | 'reply_too_large', done: (error?: Error | null) => void): void {
    this.found = why;
    done(new Error(why));
  }
}

function refusal(code: string, status: number, message: string): MandateError {
  return new MandateError(code, message, { status });
}

/**
 * Forwards the request and relays the answer. A failure before the answer starts is
 * thrown as a MandateError (the caller answers problem+json); once it has started, a
 * failure cuts the answer off. Resolves when the exchange is over.
 */
export async function forward(dispatcher: Dispatcher, target: ForwardTarget, req: IncomingMessage, res: ServerResponse, limits: ForwardLimits): Promise<Forwarded> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limits.maxRequestBytes) throw refusal('body_too_large', 413, `the request body is larger than ${limits.maxRequestBytes} bytes`);
  const hasBody = req.headers['content-length'] !== undefined ? declared > 0 : req.headers['transfer-encoding'] !== undefined;
  const abort = new AbortController();
  let settled = false;
  // The agent went away: the upstream request is abandoned too.
  res.once('close', () => {
    if (!settled && !res.writableFinished) abort.abort();
  });
  const headers = upstreamHeaders(req.headers, target.headers);
  if (target.body) headers['content-length'] = String(target.body.length);
  const body = target.body ? (target.body.length > 0 ? target.body : null) : hasBody ? boundedBody(req, limits.maxRequestBytes) : null;
  let answer: Dispatcher.ResponseData;
  try {
    answer = await dispatcher.request({
      origin: target.origin, path: target.path, method: target.method as Dispatcher.HttpMethod, headers,
      body, headersTimeout: limits.headersTimeoutMs, bodyTimeout: limits.bodyTimeoutMs,
      signal: abort.signal,
    });
  } catch (error) {
    settled = true;
    if (error instanceof MandateError) throw error;
    const cause = (error as { cause?: unknown }).cause;
    if (cause instanceof MandateError) throw cause;
    if (error instanceof undiciErrors.HeadersTimeoutError) throw refusal('upstream_timeout', 504, `the upstream did not answer within ${limits.headersTimeoutMs / 1000} s`);
    if (error instanceof undiciErrors.RequestAbortedError || abort.signal.aborted) throw refusal('request_aborted', 499, 'the agent went away before the upstream answered');
    throw refusal('upstream_unreachable', 502, `the upstream could not be reached: ${(error as Error).message}`);
  }
  const encoding = String(answer.headers['content-encoding'] ?? 'identity').toLowerCase().trim();
  const decoder = encoding === 'identity' || encoding === '' ? null : DECODERS[encoding];
  const headerValues = Object.values(answer.headers).flatMap((v) => (v === undefined ? [] : Array.isArray(v) ? v : [v]));
  answer.body.on('error', () => undefined); // seen by the pipeline below, or of no one's concern once refused
  if (!target.guard.empty && headerValues.some((v) => target.guard.carries(v))) {
    settled = true;
    answer.body.destroy();
    throw refusal('reply_carries_credential', 502, 'the upstream\'s answer carries a credential Mandate injected into the request; it was withheld');
  }
  if (decoder === undefined) {
    settled = true;
    answer.body.destroy();
    throw refusal('reply_encoding_unsupported', 502, `the upstream answered with content-encoding ${encoding}, which Mandate cannot read`);
  }
  res.writeHead(answer.statusCode, relayedHeaders(answer.headers, decoder !== null));
  const reader = new AnswerReader(target.guard, limits.maxResponseBytes);
  return new Promise<Forwarded>((resolve) => {
    const done = (error: NodeJS.ErrnoException | null): void => {
      settled = true;
      answer.body.on('error', () => undefined); // what the upstream says after the end is no one's
      const failed = answer.statusCode >= 400 ? `upstream_status_${answer.statusCode}` : null;
      if (!error) return resolve({ status: answer.statusCode, outcome: failed ? 'error' : 'ok', reason: failed });
      // Cut off: the agent sees a broken answer, never the rest of it.
      res.destroy();
      if (reader.found === 'reply_carries_credential') return resolve({ status: answer.statusCode, outcome: 'denied', reason: reader.found });
      if (reader.found === 'reply_too_large') return resolve({ status: answer.statusCode, outcome: 'error', reason: reader.found });
      resolve({ status: answer.statusCode, outcome: 'error', reason: abort.signal.aborted ? 'request_aborted' : 'upstream_broke_off' });
    };
    if (decoder) pipeline(answer.body, decoder(), reader, res, done);
    else pipeline(answer.body, reader, res, done);
  });
}
