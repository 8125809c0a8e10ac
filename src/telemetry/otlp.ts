// OpenTelemetry traces of governed calls, sent to an OTLP/HTTP collector as JSON
// (opentelemetry.io/docs/specs/otlp/#otlphttp). Hand-written rather than the SDK: Mandate
// records completed spans it already has, so it needs the wire format, a batch and a
// timer, not a tracing API.
//
// Telemetry must never hurt the calls it observes. recordCall only queues: encoding
// and sending happen later, off the caller's stack, one request at a time. The queue
// is bounded, and spans beyond it are dropped and counted. A collector that is down,
// slow or refusing costs the spans of that batch and one log line a minute. Nothing
// is thrown to the caller, and nothing is retried.
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { OTLP_DEFAULTS, otlpConfigFromEnv, type OtlpConfig } from './otlp-config.ts';

export type AttributeValue = string | number | boolean | readonly string[] | readonly number[] | readonly boolean[];

/** Attributes of a span; null and undefined members are left out. */
export type SpanAttributes = Record<string, AttributeValue | null | undefined>;

/** A span that has ended, as Mandate knows it. */
export interface CompletedSpan {
  name: string;
  /** Milliseconds since the epoch (fractions kept to the microsecond). */
  startMs: number;
  endMs: number;
  attributes: SpanAttributes;
  status: 'ok' | 'error';
  /** With an error status, what went wrong (a low-cardinality code). */
  statusMessage?: string;
  /** Default `server`: the gateway serves the agent's request. */
  kind?: 'internal' | 'server' | 'client';
  /** The caller's trace (W3C trace-context, 32 hex digits); a new trace when absent or malformed. */
  traceId?: string;
  /** The caller's span, 16 hex digits; kept only with a valid traceId. */
  parentSpanId?: string;
}

export interface OtlpExporterOptions extends Partial<Omit<OtlpConfig, 'endpoint' | 'resource'>> {
  endpoint: string;
  /** Resource attributes; `service.name` defaults to `mandate`. */
  resource?: Record<string, string>;
  /** The instrumentation scope's version (and service.version unless the resource names one): Mandate's version. */
  version?: string;
  /** Where failures are reported, at most once a minute. */
  log?: (message: string) => void;
  /** The clock for that minute. */
  now?: () => number;
}

export interface ExporterStats {
  /** Spans waiting for the next request. */
  queued: number;
  /** Spans the collector accepted. */
  exported: number;
  /** Spans never sent: the queue was full, the exporter shut down, or the span was malformed. */
  dropped: number;
  /** Spans sent in a request that failed, or that the collector rejected. */
  failed: number;
}

const REPORT_INTERVAL_MS = 60_000;
const SPAN_KIND = { internal: 1, server: 2, client: 3 } as const;
const STATUS_CODE = { ok: 1, error: 2 } as const;
const TRACE_ID = /^[0-9a-f]{32}$/;
const SPAN_ID = /^[0-9a-f]{16}$/;
const gzipped = promisify(gzip);

export class OtlpTraceExporter {
  readonly endpoint: string;
  readonly #headers: Record<string, string>;
  readonly #timeoutMs: number;
  readonly #compression: 'gzip' | 'none';
  readonly #delayMs: number;
  readonly #maxQueue: number;
  readonly #maxBatch: number;
  readonly #resource: OtlpAttribute[];
  readonly #scope: { name: string; version?: string };
  readonly #log: (message: string) => void;
  readonly #now: () => number;
  #queue: CompletedSpan[] = [];
  #timer: ReturnType<typeof setTimeout> | null = null;
  #immediate: ReturnType<typeof setImmediate> | null = null;
  #sending: Promise<void> | null = null;
  #closed = false;
  #stats = { exported: 0, dropped: 0, failed: 0 };
  /** Problems since the last report, by message, and when that report was. */
  #unreported = new Map<string, number>();
  #lastReport: number | null = null;
  #reportTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(options: OtlpExporterOptions) {
    this.endpoint = options.endpoint;
    this.#headers = { ...options.headers, 'content-type': 'application/json', ...(options.compression === 'gzip' ? { 'content-encoding': 'gzip' } : {}) };
    this.#timeoutMs = options.timeoutMs ?? OTLP_DEFAULTS.timeoutMs;
    this.#compression = options.compression ?? 'none';
    this.#delayMs = options.scheduledDelayMs ?? OTLP_DEFAULTS.scheduledDelayMs;
    this.#maxQueue = options.maxQueueSize ?? OTLP_DEFAULTS.maxQueueSize;
    this.#maxBatch = Math.min(options.maxExportBatchSize ?? OTLP_DEFAULTS.maxExportBatchSize, this.#maxQueue);
    const resource = { 'service.name': OTLP_DEFAULTS.serviceName, ...(options.version === undefined ? {} : { 'service.version': options.version }), ...options.resource };
    this.#resource = attributes(resource);
    this.#scope = { name: 'mandate', ...(options.version === undefined ? {} : { version: options.version }) };
    this.#log = options.log ?? ((message) => console.error(message));
    this.#now = options.now ?? Date.now;
  }

  /** The exporter the OTEL_* environment variables describe, or null when they configure no trace export. */
  static fromEnv(env: Record<string, string | undefined>, options: Pick<OtlpExporterOptions, 'version' | 'log' | 'now'> = {}): OtlpTraceExporter | null {
    const config = otlpConfigFromEnv(env);
    return config === null ? null : new OtlpTraceExporter({ ...config, ...options });
  }

  /** Queues a completed span for export. Never throws, never waits. */
  recordCall(span: CompletedSpan): void {
    if (this.#closed || this.#queue.length >= this.#maxQueue) {
      this.#stats.dropped++;
      if (!this.#closed) this.#report('the span queue is full; spans are dropped until the collector catches up');
      return;
    }
    this.#queue.push(span);
    this.#schedule();
  }

  /** Sends everything queued now, and resolves once it is sent (or has failed). */
  async flush(): Promise<void> {
    this.#clearTimer();
    if (this.#immediate !== null) clearImmediate(this.#immediate);
    this.#immediate = null;
    while (this.#queue.length > 0 || this.#sending !== null) {
      this.#startSending();
      await this.#sending;
    }
  }

  /** Flushes, then refuses further spans (they count as dropped). */
  async shutdown(): Promise<void> {
    this.#closed = true;
    await this.flush();
    this.#writeReport();
  }

  get stats(): ExporterStats {
    return { queued: this.#queue.length, ...this.#stats };
  }

  /** A full batch goes on the next turn of the event loop; anything less waits for the timer. A running export takes what is queued. */
  #schedule(): void {
    if (this.#sending !== null || this.#immediate !== null) return;
    if (this.#queue.length >= this.#maxBatch) {
      this.#clearTimer();
      this.#immediate = setImmediate(() => {
        this.#immediate = null;
        this.#startSending();
      });
    } else if (this.#timer === null) {
      this.#timer = setTimeout(() => {
        this.#timer = null;
        this.#startSending();
      }, this.#delayMs);
      this.#timer.unref();
    }
  }

  #clearTimer(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #startSending(): void {
    if (this.#sending !== null || this.#queue.length === 0) return;
    this.#sending = this.#sendAll().finally(() => {
      this.#sending = null;
      if (this.#queue.length > 0) this.#schedule(); // queued as the last request ended
    });
  }

  /** Batches of at most maxExportBatchSize, one request at a time, until the queue is empty. */
  async #sendAll(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, this.#maxBatch);
      await this.#send(batch);
    }
  }

  async #send(batch: CompletedSpan[]): Promise<void> {
    const spans: OtlpSpan[] = [];
    for (const span of batch) {
      let encoded: OtlpSpan | null;
      try {
        encoded = encodeSpan(span);
      } catch {
        encoded = null; // not a span at all: a caller's bug must not stop the export
      }
      if (encoded === null) {
        this.#stats.dropped++;
        this.#report('a malformed span (no name, or times that are not numbers) was dropped');
      } else {
        spans.push(encoded);
      }
    }
    if (spans.length === 0) return;
    try {
      const json = JSON.stringify(this.#request(spans));
      const body = this.#compression === 'gzip' ? await gzipped(json) : json;
      const response = await fetch(this.endpoint, { method: 'POST', headers: this.#headers, body, signal: AbortSignal.timeout(this.#timeoutMs) });
      const text = await response.text();
      if (!response.ok) throw new Error(`the collector answered ${response.status}${response.statusText === '' ? '' : ` ${response.statusText}`}`);
      const rejected = rejectedSpans(text);
      this.#stats.exported += spans.length - rejected.count;
      if (rejected.count > 0) {
        this.#stats.failed += rejected.count;
        this.#report(`the collector rejected ${rejected.count} of ${spans.length} spans${rejected.message === '' ? '' : `: ${rejected.message}`}`);
      }
    } catch (error) {
      this.#stats.failed += spans.length;
      this.#report(describeFailure(error, this.#timeoutMs));
    }
  }

  #request(spans: OtlpSpan[]): OtlpRequest {
    return { resourceSpans: [{ resource: { attributes: this.#resource }, scopeSpans: [{ scope: this.#scope, spans }] }] };
  }

  /**
   * Logs a problem at once, then at most once a minute: what happened in between is
   * counted and logged together when the minute is up (or at shutdown).
   */
  #report(problem: string): void {
    this.#unreported.set(problem, (this.#unreported.get(problem) ?? 0) + 1);
    const now = this.#now();
    if (this.#lastReport === null || now - this.#lastReport >= REPORT_INTERVAL_MS) return this.#writeReport();
    if (this.#reportTimer === null) {
      this.#reportTimer = setTimeout(() => this.#writeReport(), this.#lastReport + REPORT_INTERVAL_MS - now);
      this.#reportTimer.unref();
    }
  }

  #writeReport(): void {
    if (this.#reportTimer !== null) clearTimeout(this.#reportTimer);
    this.#reportTimer = null;
    if (this.#unreported.size === 0) return;
    this.#lastReport = this.#now();
    const lines = [...this.#unreported].map(([message, count]) => (count === 1 ? message : `${message} (${count} times)`));
    this.#unreported.clear();
    this.#log(`mandate: trace export to ${this.endpoint}: ${lines.join('; ')}. Calls are unaffected; ${this.#stats.failed} spans failed and ${this.#stats.dropped} were dropped so far`);
  }
}

// OTLP/JSON: the protobuf JSON mapping with lowerCamelCase keys, enums as integers,
// 64-bit integers as strings, and trace and span ids as hex (not base64).
export interface OtlpAnyValue { stringValue?: string; boolValue?: boolean; intValue?: string; doubleValue?: number; arrayValue?: { values: OtlpAnyValue[] } }
export interface OtlpAttribute { key: string; value: OtlpAnyValue }
export interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: OtlpAttribute[];
  status: { code: number; message?: string };
}
export interface OtlpRequest {
  resourceSpans: Array<{ resource: { attributes: OtlpAttribute[] }; scopeSpans: Array<{ scope: { name: string; version?: string }; spans: OtlpSpan[] }> }>;
}

/** One span in OTLP/JSON, with fresh ids where the caller gave none; null for a span that cannot be encoded. */
export function encodeSpan(span: CompletedSpan): OtlpSpan | null {
  if (typeof span.name !== 'string' || span.name === '' || !Number.isFinite(span.startMs) || !Number.isFinite(span.endMs)) return null;
  const inTrace = typeof span.traceId === 'string' && TRACE_ID.test(span.traceId) && !/^0+$/.test(span.traceId);
  const parent = inTrace && typeof span.parentSpanId === 'string' && SPAN_ID.test(span.parentSpanId) && !/^0+$/.test(span.parentSpanId) ? span.parentSpanId : undefined;
  const status = span.status === 'error'
    ? { code: STATUS_CODE.error, ...(span.statusMessage === undefined ? {} : { message: span.statusMessage }) }
    : { code: STATUS_CODE.ok };
  return {
    traceId: inTrace ? span.traceId as string : randomBytes(16).toString('hex'),
    spanId: randomBytes(8).toString('hex'),
    ...(parent === undefined ? {} : { parentSpanId: parent }),
    name: span.name,
    kind: SPAN_KIND[span.kind ?? 'server'],
    startTimeUnixNano: unixNanos(span.startMs),
    endTimeUnixNano: unixNanos(Math.max(span.endMs, span.startMs)),
    attributes: attributes(span.attributes),
    status,
  };
}

/** Milliseconds to nanoseconds as a decimal string, to the microsecond (exact within 2^53 µs, the year 2255). */
const unixNanos = (ms: number): string => (BigInt(Math.round(ms * 1000)) * 1000n).toString();

function attributes(values: Record<string, AttributeValue | null | undefined>): OtlpAttribute[] {
  const out: OtlpAttribute[] = [];
  for (const [key, value] of Object.entries(values)) {
    if (value === null || value === undefined) continue;
    const encoded = anyValue(value);
    if (encoded !== null) out.push({ key, value: encoded });
  }
  return out;
}

function anyValue(value: AttributeValue): OtlpAnyValue | null {
  if (typeof value === 'string') return { stringValue: value };
  if (typeof value === 'boolean') return { boolValue: value };
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return null;
    return Number.isSafeInteger(value) ? { intValue: String(value) } : { doubleValue: value };
  }
  if (Array.isArray(value)) return { arrayValue: { values: (value as AttributeValue[]).map(anyValue).filter((v): v is OtlpAnyValue => v !== null) } };
  return null;
}

/** ExportTraceServiceResponse.partialSuccess, when the collector says it dropped some spans. */
function rejectedSpans(text: string): { count: number; message: string } {
  if (text === '') return { count: 0, message: '' };
  try {
    const partial = (JSON.parse(text) as { partialSuccess?: { rejectedSpans?: string | number; errorMessage?: string } }).partialSuccess;
    const count = Number(partial?.rejectedSpans ?? 0);
    return { count: Number.isSafeInteger(count) && count > 0 ? count : 0, message: typeof partial?.errorMessage === 'string' ? partial.errorMessage : '' };
  } catch {
    return { count: 0, message: '' }; // an answer that is not JSON (or protobuf): accepted
  }
}

function describeFailure(error: unknown, timeoutMs: number): string {
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) return `no answer within ${timeoutMs} ms`;
  if (error instanceof Error) {
    const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
    return `${error.message}${cause}`;
  }
  return String(error);
}
