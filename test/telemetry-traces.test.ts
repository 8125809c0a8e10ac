// OpenTelemetry traces of governed calls, end to end: Mandate configured with the
// standard OTEL_* variables exports, to a real OTLP/HTTP receiver, one span per call
// made through the gateway by a real MCP client — an allowed call with its outcome, a
// denied one with its reason — and never an argument value.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { after, before, describe, it } from 'node:test';
import { connectToGateway } from '../src/client/mcp-client.ts';
import { exchange, grantScenario, startMandate, type Harness } from './harness.ts';

const EVERYTHING = createRequire(import.meta.url).resolve('@modelcontextprotocol/server-everything/dist/index.js');

interface Span { name: string; status?: { code?: number }; attributes: Array<{ key: string; value: Record<string, unknown> }> }

let collector: Server;
const received: Array<{ path: string; body: string }> = [];
let h: Harness;

before(async () => {
  collector = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => { body += d.toString(); });
    req.on('end', () => {
      received.push({ path: req.url ?? '', body });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
  process.env.OTEL_EXPORTER_OTLP_ENDPOINT = `http://127.0.0.1:${(collector.address() as { port: number }).port}`;
  process.env.OTEL_BSP_SCHEDULE_DELAY = '100';
  process.env.OTEL_SERVICE_NAME = 'mandate-under-test';
  h = await startMandate();
  delete process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
});
after(async () => {
  await h.close();
  await new Promise<void>((resolve) => collector.close(() => resolve()));
});

const spans = (): Span[] => received.flatMap((r) => (JSON.parse(r.body) as { resourceSpans: Array<{ scopeSpans: Array<{ spans: Span[] }> }> }).resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans)));
const attribute = (span: Span, key: string): unknown => {
  const value = span.attributes.find((a) => a.key === key)?.value;
  return value === undefined ? undefined : Object.values(value)[0];
};

describe('traces of governed calls', () => {
  it('exports a span per call, allowed with its outcome and denied with its reason, without argument values', { timeout: 30_000 }, async () => {
    await h.api('POST', '/api/v1/servers', { body: { name: 'everything', command: process.execPath, args: [EVERYTHING, 'stdio'], tools: [{ name: 'echo', sensitivity: 'public', effect: 'read' }] } });
    const s = await grantScenario(h, { allow: ['everything/echo'] });
    const answer = await exchange(h, s, { resource: `${h.url}/mcp/everything` });
    const client = await connectToGateway(`${h.url}/mcp/everything`, String(answer.body.access_token), s.key, 'traces');
    await client.callTool({ name: 'echo', arguments: { message: 'the quarterly figures' } });
    await assert.rejects(client.callTool({ name: 'get-env', arguments: {} }));
    await client.close();

    const deadline = Date.now() + 10_000;
    while (spans().length < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.ok(received.every((r) => r.path === '/v1/traces'));
    const echo = spans().find((span) => span.name === 'tools/call echo') as Span;
    assert.ok(echo, `spans: ${spans().map((span) => span.name).join(', ')}`);
    assert.equal(attribute(echo, 'gen_ai.tool.name'), 'echo');
    assert.equal(attribute(echo, 'mandate.decision'), 'allow');
    assert.equal(attribute(echo, 'mandate.outcome'), 'ok');
    assert.equal(attribute(echo, 'mandate.id'), s.mandateId);
    assert.equal(echo.status?.code, 1);
    const denied = spans().find((span) => span.name === 'tools/call get-env') as Span;
    assert.ok(denied);
    assert.equal(attribute(denied, 'mandate.decision'), 'deny');
    assert.equal(typeof attribute(denied, 'mandate.reason'), 'string');
    assert.equal(denied.status?.code, 2);
    assert.ok(received.every((r) => !r.body.includes('quarterly figures')), 'no argument value leaves in a span');
    assert.ok(received.some((r) => r.body.includes('mandate-under-test')), 'the service is named as OTEL_SERVICE_NAME says');
  });
});
