// Argument conditions end to end: the policies of docs/policy.md (a path prefix on a
// filesystem tool, an amount limit on a payment tool, recipients within the company's
// domains) active in a real Mandate, a real MCP server behind the gateway, a real SDK
// client as the agent. Inside the limits a call reaches the upstream; outside it is
// refused naming the policy, recorded, and never sent. Arguments Mandate cannot map
// are refused with their reason — only while some policy reads arguments.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { CallToolResultSchema, McpError } from '@modelcontextprotocol/sdk/types.js';
import { connectToGateway } from '../src/client/mcp-client.ts';
import { GATEWAY_DENIED } from '../src/gateway/session.ts';
import { splitPolicies } from '../src/policy/engine.ts';
import { exchange, grantScenario, startMandate, type Harness, type Scenario } from './harness.ts';

const FIXTURE = new URL('./fixtures/argument-server.ts', import.meta.url).pathname;
const FLAGS = process.features.typescript ? [] : ['--experimental-strip-types', '--disable-warning=ExperimentalWarning'];
const EXAMPLE_IDS = ['read-only-reports', 'read-many-only-reports', 'transfers-up-to-1000', 'transfers-in-euros', 'mail-stays-in-house'];

/** The named policies, exactly as docs/policy.md shows them. */
function documented(ids: string[]): string {
  const doc = readFileSync(new URL('../docs/policy.md', import.meta.url), 'utf8');
  const policies = [...doc.matchAll(/^```cedar\n([\s\S]*?)^```/gm)].flatMap((m, i) => splitPolicies([{ origin: `block ${i}`, text: m[1] as string }]));
  return ids.map((id) => {
    const found = policies.find((p) => p.id === id);
    assert.ok(found, `${id} is in docs/policy.md`);
    return found.text;
  }).join('\n\n');
}

type Event = Record<string, unknown> & { seq: number };
let h: Harness;
let scenario: Scenario;
const EXAMPLES_FILE = () => join(h.dataDir, 'policies', 'examples.cedar');

before(async () => {
  h = await startMandate();
  for (const name of ['fs', 'payments', 'mail']) {
    const added = await h.api('POST', '/api/v1/servers', { body: { name, command: process.execPath, args: [...FLAGS, FIXTURE] } });
    assert.equal(added.status, 201, JSON.stringify(added.body));
  }
  await writeFile(EXAMPLES_FILE(), documented(EXAMPLE_IDS));
  await h.app.reloadPolicies();
  assert.deepEqual(EXAMPLE_IDS.filter((id) => !h.app.policy().policies.some((p) => p.id === id)), []);
  scenario = await grantScenario(h, { allow: ['fs/read_file', 'fs/read_multiple_files', 'payments/transfer', 'mail/send_email'] });
});
after(() => h.close());

const clients = new Map<string, Client>();
async function client(server: string): Promise<Client> {
  const known = clients.get(server);
  if (known) return known;
  const answer = await exchange(h, scenario, { resource: `${h.url}/mcp/${server}` });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  const connected = await connectToGateway(`${h.url}/mcp/${server}`, String(answer.body.access_token), scenario.key, 'arguments-test');
  clients.set(server, connected);
  return connected;
}
after(async () => {
  for (const c of clients.values()) await c.close().catch(() => undefined);
});

const lastSeq = async (): Promise<number> => ((await h.api('GET', '/api/v1/audit/events?limit=1')).body.events as Event[])[0]?.seq ?? 0;
const eventsAfter = async (seq: number): Promise<Event[]> => (await h.api('GET', `/api/v1/audit/events?after=${seq}&limit=100`)).body.events as Event[];

/** A call that reaches the upstream: its answer shows the arguments the tool received. */
async function passes(server: string, tool: string, args: Record<string, unknown>): Promise<void> {
  const result = await (await client(server)).callTool({ name: tool, arguments: args });
  assert.equal(result.isError, undefined, JSON.stringify(result));
  assert.equal(JSON.stringify(result.content), JSON.stringify([{ type: 'text', text: `${tool} ran with ${JSON.stringify(args)}` }]));
}

/** A call refused before it leaves: the agent's error names why, and the audit log records it. */
async function refused(server: string, tool: string, args: unknown, code: string, message: RegExp, policies: string[]): Promise<void> {
  const from = await lastSeq();
  const c = await client(server);
  await assert.rejects(c.request({ method: 'tools/call', params: { name: tool, arguments: args as Record<string, unknown> } }, CallToolResultSchema), (error: unknown) => {
    assert.ok(error instanceof McpError, String(error));
    assert.equal(error.code, GATEWAY_DENIED);
    assert.match(error.message, message);
    assert.deepEqual(error.data, { code, server, method: 'tools/call', target: tool });
    return true;
  });
  const events = await eventsAfter(from);
  assert.deepEqual(events.map((e) => [e.kind, e.server, e.tool, e.decision, e.reason, e.policies]), [['decision', server, tool, 'deny', code, policies]]);
}

describe('argument conditions through the gateway', () => {
  it('lists the tools whose arguments are restricted', async () => {
    assert.deepEqual((await (await client('fs')).listTools()).tools.map((t) => t.name).sort(), ['read_file', 'read_multiple_files']);
  });

  it('passes a read inside the path prefix, and refuses one outside naming the policy', async () => {
    await passes('fs', 'read_file', { path: '/reports/q3.txt' });
    await passes('fs', 'read_multiple_files', { paths: ['/reports/q3.txt', '/reports/2026/q4.txt'] });
    await refused('fs', 'read_file', { path: '/reports/../etc/passwd' }, 'forbidden_by_policy', /: denied: forbidden by read-only-reports$/, ['read-only-reports']);
    await refused('fs', 'read_file', { path: '/etc/passwd' }, 'forbidden_by_policy', /forbidden by read-only-reports/, ['read-only-reports']);
    await refused('fs', 'read_multiple_files', { paths: ['/reports/q3.txt', '/etc/shadow'] }, 'forbidden_by_policy', /forbidden by read-many-only-reports/, ['read-many-only-reports']);
  });

  it('passes a transfer within the limit, and refuses one over it', async () => {
    await passes('payments', 'transfer', { amount: 999.99, currency: 'EUR', to: 'DE02120300000000202051' });
    await passes('payments', 'transfer', { amount: '1000.00', currency: 'EUR', to: 'DE02120300000000202051' });
    await refused('payments', 'transfer', { amount: 1000.01, currency: 'EUR', to: 'x' }, 'forbidden_by_policy', /forbidden by transfers-up-to-1000/, ['transfers-up-to-1000']);
    await refused('payments', 'transfer', { amount: 25000, currency: 'EUR', to: 'x' }, 'forbidden_by_policy', /forbidden by transfers-up-to-1000/, ['transfers-up-to-1000']);
    await refused('payments', 'transfer', { amount: 5, currency: 'USD', to: 'x' }, 'forbidden_by_policy', /forbidden by transfers-in-euros/, ['transfers-in-euros']);
    await refused('payments', 'transfer', { amount: 5000, currency: 'USD', to: 'x' }, 'forbidden_by_policy', /forbidden by transfers-in-euros, transfers-up-to-1000/, ['transfers-in-euros', 'transfers-up-to-1000']);
  });

  it('passes mail within the company\'s domains, and refuses a recipient outside them', async () => {
    await passes('mail', 'send_email', { to: 'bob@example.com', subject: 'Q3', body: 'attached' });
    await passes('mail', 'send_email', { to: ['Bob <bob@example.com>', 'amy@Example.org'], cc: [], subject: 'Q3', body: 'ask eve@evil.test' });
    await refused('mail', 'send_email', { to: 'eve@evil.test', subject: 'Q3', body: 'b' }, 'forbidden_by_policy', /forbidden by mail-stays-in-house/, ['mail-stays-in-house']);
    await refused('mail', 'send_email', { to: ['bob@example.com'], cc: ['eve@evil.test'], subject: 'Q3', body: 'b' }, 'forbidden_by_policy', /forbidden by mail-stays-in-house/, ['mail-stays-in-house']);
    await refused('mail', 'send_email', { to: 'bob@example.com, eve@evil.test', subject: 'Q3', body: 'b' }, 'forbidden_by_policy', /forbidden by mail-stays-in-house/, ['mail-stays-in-house']);
  });

  it('refuses arguments it cannot map faithfully, with the reason, before any policy', async () => {
    await refused('mail', 'send_email', { 'to.0': 'bob@example.com', to: ['eve@evil.test'], subject: 's', body: 'b' }, 'arguments_ambiguous',
      /: denied: the arguments cannot be decided on: two values have the path "to.0"/, []);
    let deep: Record<string, unknown> = {};
    const root = { path: '/reports/a', extra: deep };
    for (let i = 0; i < 20; i++) deep = (deep.x = {}) as Record<string, unknown>;
    await refused('fs', 'read_file', root, 'arguments_too_complex', /nest deeper than 16 levels/, []);
    await refused('fs', 'read_file', ['/reports/a'], 'arguments_invalid', /must be a JSON object, not an array/, []);
  });

  it('maps no arguments when no policy reads them', async () => {
    await rm(EXAMPLES_FILE());
    await h.app.reloadPolicies();
    try {
      await passes('fs', 'read_file', { path: '/etc/passwd' });
      const odd = await (await client('fs')).callTool({ name: 'read_file', arguments: { path: '/x', 'a.b': 1, a: { b: 2 } } });
      assert.match(JSON.stringify(odd.content), /read_file ran with/);
    } finally {
      await writeFile(EXAMPLES_FILE(), documented(EXAMPLE_IDS));
      await h.app.reloadPolicies();
    }
    await refused('fs', 'read_file', { path: '/etc/passwd' }, 'forbidden_by_policy', /forbidden by read-only-reports/, ['read-only-reports']);
  });
});
