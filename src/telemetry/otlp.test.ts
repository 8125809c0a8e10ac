import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import { after, before, beforeEach, describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { MandateError } from '../errors.ts';
import { freePort } from '../lib/free-port.ts';
import { otlpConfigFromEnv } from './otlp-config.ts';
import { encodeSpan, OtlpTraceExporter, type CompletedSpan, type OtlpRequest, type OtlpSpan } from './otlp.ts';
import { until } from '../../test/fixtures/until.ts';

/** A real OTLP/HTTP receiver on a free port: it keeps what it is sent and answers as told. */
class Collector {
  readonly requests: Array<{ path: string; headers: IncomingHttpHeaders; body: OtlpRequest }> = [];
  answer: 'ok' | 'fail' | 'hang' | 'partial' = 'ok';
  readonly #server: Server;
  readonly #hanging: ServerResponse[] = [];
  port = 0;

  constructor() {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const raw = Buffer.concat(chunks);
        const text = (req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw).toString('utf8');
        this.requests.push({ path: req.url ?? '', headers: req.headers, body: JSON.parse(text) as OtlpRequest });
        if (this.answer === 'hang') return void this.#hanging.push(res);
        if (this.answer === 'fail') return void res.writeHead(500, { 'content-type': 'text/plain' }).end('collector overloaded');
        const body = this.answer === 'partial' ? { partialSuccess: { rejectedSpans: '1', errorMessage: 'span name too long' } } : {};
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      });
    });
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.port = (this.#server.address() as { port: number }).port;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  spans(): OtlpSpan[] {
    return this.requests.flatMap((r) => r.body.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans)));
  }

  reset(): void {
    this.requests.length = 0;
    this.answer = 'ok';
    for (const res of this.#hanging.splice(0)) res.destroy();
  }

  async stop(): Promise<void> {
    this.reset();
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

const span = (n: number, fields: Partial<CompletedSpan> = {}): CompletedSpan => ({
  name: `tools/call tool_${n}`, startMs: 1_767_225_600_000 + n, endMs: 1_767_225_600_012.5 + n, status: 'ok',
  attributes: { 'mcp.method.name': 'tools/call', 'mandate.audit.seq': n }, ...fields,
});

const quiet = { log: () => undefined };

describe('the OTLP/HTTP trace exporter', () => {
  const collector = new Collector();
  before(() => collector.start());
  after(() => collector.stop());
  beforeEach(() => collector.reset());

  it('posts spans as OTLP/JSON to /v1/traces: resource, scope, ids, times, attributes, status', async () => {
    const exporter = new OtlpTraceExporter({ endpoint: `${collector.url}/v1/traces`, version: '0.1.0', resource: { 'deployment.environment.name': 'test' }, ...quiet });
    exporter.recordCall(span(1, {
      attributes: { text: 'read_file', whole: 41, fraction: 2.5, yes: true, list: ['a', 'b'], numbers: [1, 2], nothing: null, missing: undefined, notANumber: Number.NaN },
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736', parentSpanId: '00f067aa0ba902b7',
    }));
    exporter.recordCall(span(2, { status: 'error', statusMessage: 'tool_outside_scope', kind: 'internal' }));
    await exporter.flush();

    assert.equal(collector.requests.length, 1);
    const [request] = collector.requests;
    assert.equal(request!.path, '/v1/traces');
    assert.equal(request!.headers['content-type'], 'application/json');
    const [resourceSpans] = request!.body.resourceSpans;
    assert.deepEqual(resourceSpans!.resource.attributes, [
      { key: 'service.name', value: { stringValue: 'mandate' } },
      { key: 'service.version', value: { stringValue: '0.1.0' } },
      { key: 'deployment.environment.name', value: { stringValue: 'test' } },
    ]);
    assert.deepEqual(resourceSpans!.scopeSpans[0]!.scope, { name: 'mandate', version: '0.1.0' });
    const [first, second] = resourceSpans!.scopeSpans[0]!.spans;
    assert.equal(first!.traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
    assert.equal(first!.parentSpanId, '00f067aa0ba902b7');
    assert.match(first!.spanId, /^[0-9a-f]{16}$/);
    assert.equal(first!.name, 'tools/call tool_1');
    assert.equal(first!.kind, 2, 'SPAN_KIND_SERVER');
    assert.equal(first!.startTimeUnixNano, '1767225600001000000');
    assert.equal(first!.endTimeUnixNano, '1767225600013500000');
    assert.deepEqual(first!.attributes, [
      { key: 'text', value: { stringValue: 'read_file' } },
      { key: 'whole', value: { intValue: '41' } },
      { key: 'fraction', value: { doubleValue: 2.5 } },
      { key: 'yes', value: { boolValue: true } },
      { key: 'list', value: { arrayValue: { values: [{ stringValue: 'a' }, { stringValue: 'b' }] } } },
      { key: 'numbers', value: { arrayValue: { values: [{ intValue: '1' }, { intValue: '2' }] } } },
    ]);
    assert.deepEqual(first!.status, { code: 1 });
    assert.match(second!.traceId, /^[0-9a-f]{32}$/, 'a new trace for a span with none');
    assert.notEqual(second!.traceId, first!.traceId);
    assert.equal(second!.parentSpanId, undefined);
    assert.equal(second!.kind, 1, 'SPAN_KIND_INTERNAL');
    assert.deepEqual(second!.status, { code: 2, message: 'tool_outside_scope' });
    assert.deepEqual(exporter.stats, { queued: 0, exported: 2, dropped: 0, failed: 0 });
  });

  it('sends at most 512 spans a request, a full batch at once, the rest when the timer fires', async () => {
    const exporter = new OtlpTraceExporter({ endpoint: `${collector.url}/v1/traces`, scheduledDelayMs: 200, ...quiet });
    for (let i = 0; i < 1200; i++) exporter.recordCall(span(i));
    await until('the full batches', () => collector.requests.length >= 2);
    assert.deepEqual(collector.requests.slice(0, 2).map((r) => r.body.resourceSpans[0]!.scopeSpans[0]!.spans.length), [512, 512]);
    await until('the rest, on the timer', () => collector.spans().length === 1200);
    assert.ok(collector.requests.every((r) => r.body.resourceSpans[0]!.scopeSpans[0]!.spans.length <= 512));
    assert.deepEqual(collector.spans().map((s) => s.name), Array.from({ length: 1200 }, (_, i) => `tools/call tool_${i}`), 'in order');
    // The collector has a batch before the exporter has its answer: counted once answered.
    await until('every batch answered', () => exporter.stats.exported === 1200);
    await exporter.shutdown();
  });

  it('sends a lone span after the schedule delay, without being asked', async () => {
    const exporter = new OtlpTraceExporter({ endpoint: `${collector.url}/v1/traces`, scheduledDelayMs: 50, ...quiet });
    exporter.recordCall(span(1));
    assert.equal(collector.requests.length, 0, 'not at once');
    await until('the timer', () => collector.requests.length === 1);
    await exporter.shutdown();
  });

  it('sends the headers of OTEL_EXPORTER_OTLP_HEADERS, percent-decoded, to the endpoint OTEL_EXPORTER_OTLP_ENDPOINT names', async () => {
    const exporter = OtlpTraceExporter.fromEnv({
      OTEL_EXPORTER_OTLP_ENDPOINT: `${collector.url}/otlp/`, OTEL_EXPORTER_OTLP_HEADERS: 'api-key=s3cr%3Dt, x-tenant=acme', OTEL_SERVICE_NAME: 'mandate-eu',
    }, { version: '0.1.0', ...quiet });
    assert.ok(exporter);
    exporter.recordCall(span(1));
    await exporter.shutdown();
    const [request] = collector.requests;
    assert.equal(request!.path, '/otlp/v1/traces');
    assert.equal(request!.headers['api-key'], 's3cr=t');
    assert.equal(request!.headers['x-tenant'], 'acme');
    assert.deepEqual(request!.body.resourceSpans[0]!.resource.attributes[0], { key: 'service.name', value: { stringValue: 'mandate-eu' } });
  });

  it('gzips the body when OTEL_EXPORTER_OTLP_COMPRESSION is gzip', async () => {
    const exporter = OtlpTraceExporter.fromEnv({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${collector.url}/v1/traces`, OTEL_EXPORTER_OTLP_COMPRESSION: 'gzip' }, quiet);
    exporter!.recordCall(span(1));
    await exporter!.shutdown();
    assert.equal(collector.requests[0]!.headers['content-encoding'], 'gzip');
    assert.equal(collector.spans().length, 1);
  });

  it('counts the spans a collector answering 500 lost, logs once a minute, and never throws', async () => {
    collector.answer = 'fail';
    const logged: string[] = [];
    let now = 0;
    const exporter = new OtlpTraceExporter({ endpoint: `${collector.url}/v1/traces`, log: (m) => logged.push(m), now: () => now });
    assert.doesNotThrow(() => exporter.recordCall(span(1)));
    await exporter.flush();
    exporter.recordCall(span(2));
    exporter.recordCall(span(3));
    await exporter.flush();
    assert.equal(logged.length, 1, 'the second failure within the minute is not logged');
    assert.match(logged[0]!, /trace export to http:\/\/127\.0\.0\.1:\d+\/v1\/traces: the collector answered 500/);
    now += 61_000;
    exporter.recordCall(span(4));
    await exporter.flush();
    assert.equal(logged.length, 2);
    assert.match(logged[1]!, /the collector answered 500 Internal Server Error \(2 times\)/);
    assert.deepEqual(exporter.stats, { queued: 0, exported: 0, dropped: 0, failed: 4 });
    await exporter.shutdown();
  });

  it('survives a collector that is down', async () => {
    const logged: string[] = [];
    const exporter = new OtlpTraceExporter({ endpoint: `http://127.0.0.1:${await freePort()}/v1/traces`, log: (m) => logged.push(m) });
    exporter.recordCall(span(1));
    await exporter.shutdown();
    assert.equal(exporter.stats.failed, 1);
    assert.equal(logged.length, 1);
    assert.match(logged[0]!, /fetch failed: .*ECONNREFUSED|ECONNREFUSED/);
  });

  it('does not block recordCall on a collector that never answers: the queue is bounded, the request times out', async () => {
    collector.answer = 'hang';
    const logged: string[] = [];
    const exporter = new OtlpTraceExporter({ endpoint: `${collector.url}/v1/traces`, timeoutMs: 300, maxQueueSize: 100, maxExportBatchSize: 10, log: (m) => logged.push(m) });
    for (let i = 0; i < 10; i++) exporter.recordCall(span(i));
    await until('the first request to hang', () => collector.requests.length === 1);
    const started = performance.now();
    for (let i = 0; i < 5000; i++) exporter.recordCall(span(i));
    // recordCall returned 5000 times while the request still hangs: it never waits for the collector.
    assert.equal(exporter.stats.failed, 0, 'the hung request had not timed out yet');
    assert.deepEqual([exporter.stats.queued, exporter.stats.dropped], [100, 4900], 'the queue holds 100; the rest is dropped and counted');
    collector.answer = 'ok'; // requests from now on are answered; the hung one never is
    await until('the hung request to time out', () => exporter.stats.failed === 10, 3000);
    assert.ok(performance.now() - started >= 250, 'it waited for the timeout');
    await exporter.shutdown();
    assert.equal(exporter.stats.exported, 100, 'the queue went out once the collector answered');
    assert.equal(logged.length, 2, 'the first problem at once, the rest of the minute at shutdown');
    assert.match(logged[0]!, /: the span queue is full; spans are dropped until the collector catches up\. Calls are unaffected; 0 spans failed and 1 were dropped so far$/);
    assert.match(logged[1]!, /: the span queue is full; spans are dropped until the collector catches up \(4899 times\); no answer within 300 ms\. Calls are unaffected; 10 spans failed and 4900 were dropped so far$/);
  });

  it('flushes what is queued on shutdown, and takes nothing after', async () => {
    const exporter = new OtlpTraceExporter({ endpoint: `${collector.url}/v1/traces`, scheduledDelayMs: 60_000, ...quiet });
    for (let i = 0; i < 3; i++) exporter.recordCall(span(i));
    assert.equal(collector.requests.length, 0);
    await exporter.shutdown();
    assert.equal(collector.spans().length, 3);
    exporter.recordCall(span(4));
    assert.deepEqual(exporter.stats, { queued: 0, exported: 3, dropped: 1, failed: 0 });
  });

  it('drops a malformed span without stopping the export, and counts it', async () => {
    const logged: string[] = [];
    const exporter = new OtlpTraceExporter({ endpoint: `${collector.url}/v1/traces`, log: (m) => logged.push(m) });
    exporter.recordCall(null as unknown as CompletedSpan);
    exporter.recordCall(span(1, { startMs: Number.NaN }));
    exporter.recordCall(span(2, { attributes: null as unknown as CompletedSpan['attributes'] }));
    exporter.recordCall(span(3));
    await exporter.shutdown();
    assert.deepEqual(collector.spans().map((s) => s.name), ['tools/call tool_3']);
    assert.deepEqual([exporter.stats.exported, exporter.stats.dropped], [1, 3]);
    assert.match(logged.join('\n'), /a malformed span \(no name, or times that are not numbers\) was dropped/);
  });

  it('counts the spans a collector rejects in a partial success', async () => {
    collector.answer = 'partial';
    const logged: string[] = [];
    const exporter = new OtlpTraceExporter({ endpoint: `${collector.url}/v1/traces`, log: (m) => logged.push(m) });
    exporter.recordCall(span(1));
    exporter.recordCall(span(2));
    await exporter.shutdown();
    assert.deepEqual([exporter.stats.exported, exporter.stats.failed], [1, 1]);
    assert.match(logged[0]!, /rejected 1 of 2 spans: span name too long/);
  });
});

describe('OTLP spans', () => {
  it('keep a valid trace and parent, and start a new trace for a malformed one', () => {
    const kept = encodeSpan(span(1, { traceId: 'a'.repeat(32), parentSpanId: 'b'.repeat(16) }))!;
    assert.deepEqual([kept.traceId, kept.parentSpanId], ['a'.repeat(32), 'b'.repeat(16)]);
    for (const traceId of ['A'.repeat(32), '0'.repeat(32), 'abc', 'g'.repeat(32)]) {
      const fresh = encodeSpan(span(1, { traceId, parentSpanId: 'b'.repeat(16) }))!;
      assert.notEqual(fresh.traceId, traceId);
      assert.equal(fresh.parentSpanId, undefined, 'no parent in a trace of its own');
    }
    assert.equal(encodeSpan(span(1, { traceId: 'a'.repeat(32), parentSpanId: '0'.repeat(16) }))!.parentSpanId, undefined);
  });

  it('never end before they start, and refuse times that are not numbers', () => {
    assert.equal(encodeSpan(span(1, { startMs: 2000, endMs: 1000 }))!.endTimeUnixNano, '2000000000');
    assert.equal(encodeSpan(span(1, { endMs: Number.NaN })), null);
    assert.equal(encodeSpan(span(1, { name: '' })), null);
  });
});

describe('trace export from the OTEL_* environment', () => {
  it('is off without an endpoint, or when switched off', () => {
    assert.equal(otlpConfigFromEnv({}), null);
    assert.equal(OtlpTraceExporter.fromEnv({ OTEL_EXPORTER_OTLP_HEADERS: 'a=b', OTEL_SERVICE_NAME: 'x' }), null);
    assert.equal(otlpConfigFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: '  ' }), null, 'empty is unset');
    assert.equal(otlpConfigFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_SDK_DISABLED: 'true' }), null);
    assert.equal(otlpConfigFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_EXPORTER: 'none' }), null);
  });

  it('appends v1/traces to the base endpoint and takes the traces endpoint as it is', () => {
    const endpoint = (env: Record<string, string>) => otlpConfigFromEnv(env)?.endpoint;
    assert.equal(endpoint({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' }), 'http://c:4318/v1/traces');
    assert.equal(endpoint({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318/' }), 'http://c:4318/v1/traces');
    assert.equal(endpoint({ OTEL_EXPORTER_OTLP_ENDPOINT: 'https://c/otlp' }), 'https://c/otlp/v1/traces');
    assert.equal(endpoint({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://t/custom' }), 'https://t/custom');
  });

  it('reads the defaults and the settings', () => {
    assert.deepEqual(otlpConfigFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' }), {
      endpoint: 'http://c:4318/v1/traces', headers: {}, timeoutMs: 10_000, compression: 'none', resource: { 'service.name': 'mandate' },
      scheduledDelayMs: 1000, maxQueueSize: 2048, maxExportBatchSize: 512,
    });
    const config = otlpConfigFromEnv({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_EXPORTER_OTLP_HEADERS: 'a=1', OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'b=2',
      OTEL_EXPORTER_OTLP_TIMEOUT: '2500', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf', OTEL_RESOURCE_ATTRIBUTES: 'service.name=ignored,host.name=gw%201',
      OTEL_SERVICE_NAME: 'gateway', OTEL_BSP_SCHEDULE_DELAY: '250', OTEL_BSP_MAX_QUEUE_SIZE: '100', OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '50',
    });
    assert.deepEqual(config?.headers, { b: '2' }, 'the traces-specific variable takes precedence');
    assert.equal(config?.timeoutMs, 2500);
    assert.deepEqual(config?.resource, { 'service.name': 'gateway', 'host.name': 'gw 1' });
    assert.deepEqual([config?.scheduledDelayMs, config?.maxQueueSize, config?.maxExportBatchSize], [250, 100, 50]);
  });

  it('refuses what it cannot honour, by name, without repeating a header value', () => {
    const refused = (env: Record<string, string>, message: RegExp) => assert.throws(() => otlpConfigFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', ...env }),
      (error: unknown) => error instanceof MandateError && error.code === 'invalid_config' && message.test(error.message), JSON.stringify(env));
    refused({ OTEL_EXPORTER_OTLP_ENDPOINT: 'c:4318' }, /OTEL_EXPORTER_OTLP_ENDPOINT must be an http or https URL/);
    refused({ OTEL_EXPORTER_OTLP_ENDPOINT: 'not a url' }, /OTEL_EXPORTER_OTLP_ENDPOINT is not a URL/);
    refused({ OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'grpc' }, /OTEL_EXPORTER_OTLP_TRACES_PROTOCOL is grpc; Mandate exports OTLP over HTTP/);
    refused({ OTEL_EXPORTER_OTLP_TIMEOUT: '10s' }, /OTEL_EXPORTER_OTLP_TIMEOUT must be a whole number from 1, got 10s/);
    refused({ OTEL_EXPORTER_OTLP_CERTIFICATE: '/etc/ca.pem' }, /OTEL_EXPORTER_OTLP_CERTIFICATE is not supported/);
    refused({ OTEL_EXPORTER_OTLP_COMPRESSION: 'zstd' }, /must be gzip or none, got zstd/);
    refused({ OTEL_TRACES_EXPORTER: 'zipkin' }, /OTEL_TRACES_EXPORTER lists zipkin/);
    refused({ OTEL_BSP_MAX_QUEUE_SIZE: '10' }, /OTEL_BSP_MAX_EXPORT_BATCH_SIZE \(512\) must not exceed OTEL_BSP_MAX_QUEUE_SIZE \(10\)/);
    refused({ OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer%20sk-live-1,sk-live-2' }, /^OTEL_EXPORTER_OTLP_HEADERS: entry 2 is not key=value$/);
    refused({ OTEL_EXPORTER_OTLP_HEADERS: 'authorization=%E0%A4%A' }, /^OTEL_EXPORTER_OTLP_HEADERS: the value of authorization is not valid percent-encoding$/);
  });
});
