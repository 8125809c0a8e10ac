// `npm run conformance`: the MCP conformance suite (`@modelcontextprotocol/conformance`,
// every server scenario) against the same upstream three ways, and the comparison:
//
//   direct         suite → the fixture (test/fixtures/conformance-server.ts, streamable HTTP)
//   gateway-stdio  suite → signing forwarder → Mandate /mcp/conformance → the fixture over stdio
//   gateway-http   suite → signing forwarder → Mandate /mcp/conformance-http → the fixture over HTTP
//
// Mandate is a real `mandate serve` on a fresh data directory; the agent holds a
// mandate naming every tool and prompt the fixture offers, and its resources. The
// suite's client speaks plain MCP, so the forwarder (scripts/conformance/signing-forwarder.ts)
// signs each of its requests as the agent. Exits 1 when a scenario that passes
// directly fails through the gateway.
//
//   npm run conformance              the table
//   npm run conformance -- --json    machine-readable results
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { createApp } from '../src/app.ts';
import { generateAgentKey, type AgentKey } from '../src/client/agent-key.ts';
import { loadConfig } from '../src/config.ts';
import { init } from '../src/init.ts';
import { nowSeconds } from '../src/lib/clock.ts';
import { freePort } from '../src/lib/free-port.ts';
import { startSigningForwarder, TaskTokens, type SigningForwarder } from './conformance/signing-forwarder.ts';
import { runSuite, serverScenarios, type ScenarioResult } from './conformance/suite.ts';

const FIXTURE = new URL('../test/fixtures/conformance-server.ts', import.meta.url).pathname;
const MANDATE = new URL('../bin/mandate.js', import.meta.url).pathname;
const FLAGS = process.features.typescript ? [] : ['--experimental-strip-types', '--disable-warning=ExperimentalWarning'];

export const TARGETS = ['direct', 'gateway-stdio', 'gateway-http'] as const;
export type Target = typeof TARGETS[number];
/** The gateway resource each gateway target reaches. */
const SERVERS = { 'gateway-stdio': 'conformance', 'gateway-http': 'conformance-http' } as const;

export interface ScenarioComparison {
  scenario: string;
  suite?: ScenarioResult['suite'];
  results: Record<Target, ScenarioResult | null>;
  /** Passes directly and fails through the gateway (over either upstream). */
  regression: boolean;
}

export interface ConformanceComparison {
  scenarios: ScenarioComparison[];
  regressions: string[];
}

/** Starts `node <args>` and resolves once its output matches `ready` (with the match). */
function startProcess(args: string[], env: Record<string, string>, ready: RegExp, what: string): Promise<{ child: ChildProcess; match: RegExpExecArray }> {
  const child = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  // Interrupted, the run still stops what it started.
  const stop = () => child.kill();
  process.once('exit', stop);
  child.once('exit', () => process.off('exit', stop));
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`${what} did not start: ${seen.slice(-500)}`)), 20_000);
    const onData = (chunk: Buffer) => {
      seen += chunk.toString();
      const match = ready.exec(seen);
      if (match) {
        clearTimeout(timer);
        resolve({ child, match });
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited with ${code}: ${seen.slice(-500)}`));
    });
  });
}

/** What a mandate must name to cover the whole fixture on `server`: each tool, each prompt, its resources. */
async function everythingOn(fixtureUrl: string, server: string): Promise<string[]> {
  const client = new Client({ name: 'conformance-inventory', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(fixtureUrl)));
  try {
    const tools = (await client.listTools()).tools.map((t) => `${server}/${t.name}`);
    const prompts = (await client.listPrompts()).prompts.map((p) => `${server}/prompt:${p.name}`);
    return [...tools, ...prompts, `${server}/resource:*`];
  } finally {
    await client.close();
  }
}

interface World {
  dataDir: string;
  key: AgentKey;
  mandateToken: string;
}

/** A data directory with a person, the fixture registered over stdio and over HTTP, an enrolled agent and its mandate. */
async function prepare(port: number, fixtureUrl: string): Promise<World> {
  const dataDir = await mkdtemp(join(tmpdir(), 'mandate-conformance-'));
  const config = loadConfig({}, { dataDir, port, host: '127.0.0.1' });
  await init(config);
  const app = await createApp(config);
  try {
    const now = nowSeconds();
    const person = await app.people.add({ id: 'alice' }, now);
    await app.catalog.add({ name: SERVERS['gateway-stdio'], upstream: { transport: 'stdio', command: process.execPath, args: [...FLAGS, FIXTURE, 'stdio'] }, tools: [] }, now);
    await app.catalog.add({ name: SERVERS['gateway-http'], upstream: { transport: 'http', url: fixtureUrl }, tools: [] }, now);
    const { agent, enrollmentToken } = await app.agents.add({ name: 'conformance-bot', owner: 'alice', purpose: 'MCP conformance' }, now);
    const key = generateAgentKey();
    await app.agents.enroll(enrollmentToken, key.publicJwk, now);
    key.clientId = agent.spiffeId;
    const allow = [...await everythingOn(fixtureUrl, SERVERS['gateway-stdio']), ...await everythingOn(fixtureUrl, SERVERS['gateway-http'])];
    const { mandateToken } = await app.mandates.grant(person, { agentId: agent.id, purpose: 'MCP conformance', allow, ttl: 3600 }, now);
    return { dataDir, key, mandateToken };
  } finally {
    await app.close();
  }
}

/** Runs the suite directly and through the gateway over both upstreams, and compares. */
export async function compareConformance(): Promise<ConformanceComparison> {
  const children: ChildProcess[] = [];
  const forwarders: SigningForwarder[] = [];
  let world: World | undefined;
  try {
    const fixture = await startProcess([...FLAGS, FIXTURE, '0'], {}, /listening on (\S+)/, 'the conformance fixture');
    children.push(fixture.child);
    const fixtureUrl = fixture.match[1] as string;

    const port = await freePort();
    world = await prepare(port, fixtureUrl);
    // Sessions the suite leaves open (its client never DELETEs one) end soon, with their upstream processes.
    const mandate = await startProcess([MANDATE, 'serve'], { MANDATE_DATA_DIR: world.dataDir, MANDATE_PORT: String(port), MANDATE_HOST: '127.0.0.1', MANDATE_SESSION_IDLE: '20s' }, /listening|http:\/\//i, 'mandate serve');
    children.push(mandate.child);
    const issuer = `http://127.0.0.1:${port}`;

    const urls: Record<Target, string> = { direct: fixtureUrl, 'gateway-stdio': '', 'gateway-http': '' };
    for (const target of ['gateway-stdio', 'gateway-http'] as const) {
      const resource = `${issuer}/mcp/${SERVERS[target]}`;
      const forwarder = await startSigningForwarder(resource, world.key, new TaskTokens(issuer, resource, world.mandateToken, world.key));
      forwarders.push(forwarder);
      urls[target] = forwarder.url;
    }

    // One at a time: several scenarios wait for timed notifications, and the targets share the CPU.
    const results = {} as Record<Target, Map<string, ScenarioResult>>;
    for (const target of TARGETS) results[target] = await runSuite(urls[target]);

    const order = await serverScenarios();
    const rank = (name: string) => (order.includes(name) ? order.indexOf(name) : order.length);
    const names = [...new Set(TARGETS.flatMap((t) => [...results[t].keys()]))].sort((a, b) => rank(a) - rank(b));
    const scenarios = names.map((scenario): ScenarioComparison => {
      const of = (t: Target) => results[t].get(scenario) ?? null;
      const direct = of('direct');
      const regression = direct?.passed === true && (of('gateway-stdio')?.passed !== true || of('gateway-http')?.passed !== true);
      const suite = TARGETS.map(of).find((r) => r?.suite)?.suite;
      return { scenario, ...(suite ? { suite } : {}), results: { direct, 'gateway-stdio': of('gateway-stdio'), 'gateway-http': of('gateway-http') }, regression };
    });
    return { scenarios, regressions: scenarios.filter((s) => s.regression).map((s) => s.scenario) };
  } finally {
    await Promise.allSettled(forwarders.map((f) => f.close()));
    for (const child of children) child.kill();
    if (world) await rm(world.dataDir, { recursive: true, force: true });
  }
}

function cell(result: ScenarioResult | null): string {
  if (!result) return 'not run';
  if (!result.passed) return `FAIL (${result.failures.length})`;
  return result.warnings.length ? `pass (${result.warnings.length} warning${result.warnings.length > 1 ? 's' : ''})` : 'pass';
}

export function printComparison(comparison: ConformanceComparison): void {
  console.log('MCP conformance suite, server scenarios: the fixture directly vs through Mandate (stdio and HTTP upstreams)\n');
  const width = Math.max(...comparison.scenarios.map((s) => s.scenario.length + (s.suite === 'pending' ? 10 : 0)), 8);
  console.log(`  ${'scenario'.padEnd(width)}  ${TARGETS.map((t) => t.padEnd(18)).join('')}`);
  for (const s of comparison.scenarios) {
    const name = s.suite === 'pending' ? `${s.scenario} (pending)` : s.scenario;
    console.log(`  ${name.padEnd(width)}  ${TARGETS.map((t) => cell(s.results[t]).padEnd(18)).join('')}${s.regression ? '  ← fails only through the gateway' : ''}`);
  }
  const failing = comparison.scenarios.flatMap((s) => TARGETS.flatMap((t) => (s.results[t]?.failures ?? []).map((f) => `  ${s.scenario} (${t}): ${f}`)));
  if (failing.length) console.log(`\nFailed checks:\n${failing.join('\n')}`);
  const passedDirectly = comparison.scenarios.filter((s) => s.results.direct?.passed).length;
  console.log(comparison.regressions.length === 0
    ? `\nThrough the gateway: every scenario that passes directly passes (${passedDirectly} of ${comparison.scenarios.length} pass directly).`
    : `\nThrough the gateway: ${comparison.regressions.length} scenario(s) that pass directly fail: ${comparison.regressions.join(', ')}.`);
}

if (resolve(process.argv[1] ?? '') === import.meta.filename) {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));
  const comparison = await compareConformance();
  if (process.argv.includes('--json')) console.log(JSON.stringify(comparison, null, 2));
  else printComparison(comparison);
  process.exit(comparison.regressions.length === 0 ? 0 : 1);
}
