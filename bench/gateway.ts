// MCP `tools/call` through the gateway vs the same upstream called directly, and vs
// `mcp-proxy` (a pass-through with no identity, policy or audit) in front of the
// same stdio upstream. Same SDK client, same run, interleaved rounds.
//
//   direct-http   SDK client → server-everything (streamable HTTP)
//   gateway-http  SDK client → Mandate /mcp/everything-http → the same HTTP upstream
//   direct-stdio  SDK client → server-everything (stdio, a child of the bench)
//   gateway-stdio SDK client → Mandate /mcp/everything → server-everything (stdio)
//   mcp-proxy     SDK client → mcp-proxy (HTTP) → server-everything (stdio)
//
// Mandate and mcp-proxy run as their own processes, so their CPU time per call is
// read from /proc (user + system). Mandate's figure is everything the gateway does
// for a governed call: HTTP, DPoP proof and token verification, mandate standing,
// the Cedar decision, the call budget, two audit events written durably, the relay.
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { createApp } from '../src/app.ts';
import { generateAgentKey, type AgentKey } from '../src/client/agent-key.ts';
import { exchangeForTaskToken } from '../src/client/task-token.ts';
import { connectToGateway } from '../src/client/mcp-client.ts';
import { loadConfig } from '../src/config.ts';
import { init } from '../src/init.ts';
import { nowSeconds } from '../src/lib/clock.ts';
import { freePort } from '../src/lib/free-port.ts';
import { cpuAvailable, cpuTicks, TICKS_PER_SECOND } from './proc.ts';
import { startMandate, startProcess } from './processes.ts';
import { fmt, median, percentile } from './stats.ts';

const require = createRequire(import.meta.url);
const EVERYTHING = require.resolve('@modelcontextprotocol/server-everything/dist/index.js');
const MCP_PROXY = join(require.resolve('mcp-proxy/package.json'), '..', 'dist/bin/mcp-proxy.mjs');

/** Interleaved measured rounds (MANDATE_BENCH_ROUNDS overrides): ratios are medians of per-round ratios, so more rounds steady them on a noisy machine. */
const ROUNDS = Number(process.env.MANDATE_BENCH_ROUNDS ?? 5);
const SECONDS_PER_ROUND = 2;
/** Unmeasured calls first, per target, until the processes are warm (JIT compiled, caches filled): the figures are of a gateway that has been running. */
const WARM_UP_SECONDS = Number(process.env.MANDATE_BENCH_WARM_UP ?? 3);
/** Concurrent clients per target (MANDATE_BENCH_CLIENTS overrides). */
const CLIENTS = Number(process.env.MANDATE_BENCH_CLIENTS ?? 4);

type Target = 'direct-http' | 'gateway-http' | 'direct-stdio' | 'gateway-stdio' | 'mcp-proxy';
const ALL_TARGETS: Target[] = ['direct-http', 'gateway-http', 'direct-stdio', 'gateway-stdio', 'mcp-proxy'];

/** The targets to run: all, or those MANDATE_BENCH_TARGETS names (comma-separated), e.g. to profile one of them. */
export function benchTargets(names = process.env.MANDATE_BENCH_TARGETS): Target[] {
  if (names === undefined || names.trim() === '') return ALL_TARGETS;
  const wanted = names.split(',').map((n) => n.trim()).filter((n) => n !== '');
  const unknown = wanted.filter((n) => !(ALL_TARGETS as string[]).includes(n));
  if (unknown.length > 0) throw new Error(`MANDATE_BENCH_TARGETS: unknown target ${unknown.join(', ')} (known: ${ALL_TARGETS.join(', ')})`);
  return ALL_TARGETS.filter((t) => wanted.includes(t));
}

export interface TargetResult {
  callsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  /** CPU time of the process in the middle (gateway or proxy) per call, µs. */
  cpuPerCallUs: number | null;
}

export interface GatewayBenchResult {
  clients: number;
  rounds: number;
  /** The targets that ran (MANDATE_BENCH_TARGETS), in the order of TARGETS. */
  targets: Partial<Record<Target, TargetResult>>;
  /** gateway-http / direct-http calls/s, median of per-round ratios (null: one of them did not run). */
  ratioVsDirect: RoundRatio | null;
  /** gateway-stdio / mcp-proxy calls/s, median of per-round ratios. */
  ratioVsMcpProxy: RoundRatio | null;
  /**
   * Gateway (stdio upstream) CPU per call over mcp-proxy's, median of per-round ratios:
   * what the gateway's identity, policy and audit cost on top of a bare relay of the same
   * calls, on whatever machine this runs on.
   */
  cpuVsMcpProxy: RoundRatio | null;
  /**
   * The same two with one client each. mcp-proxy relays all its clients through one
   * upstream process; the gateway gives every session its own (sessions are never
   * mixed), so with 4 clients it drives 4 upstream processes where mcp-proxy drives 1.
   * With one client each, both relay to one upstream process.
   */
  oneClient: { ratioVsMcpProxy: RoundRatio; cpuVsMcpProxy: RoundRatio; gatewayCpuUs: number; mcpProxyCpuUs: number } | null;
}

/** A ratio measured round by round: the median, with the lowest and highest rounds (their spread is the machine's noise). */
export interface RoundRatio {
  median: number;
  min: number;
  max: number;
}

interface World {
  dataDir: string;
  key: AgentKey;
  mandateToken: string;
}

/** A data directory with one person, the two upstreams, an enrolled agent and a mandate for `echo` on both. */
async function prepare(port: number, httpUpstream: string): Promise<World> {
  const dataDir = await mkdtemp(join(tmpdir(), 'mandate-bench-gw-'));
  const config = loadConfig({}, { dataDir, port, host: '127.0.0.1' });
  await init(config);
  const app = await createApp(config);
  const now = nowSeconds();
  const person = await app.people.add({ id: 'alice' }, now);
  const echo = [{ name: 'echo', sensitivity: 'public' as const, effect: 'read' as const, egress: 'internal' as const }];
  await app.catalog.add({ name: 'everything', upstream: { transport: 'stdio', command: process.execPath, args: [EVERYTHING, 'stdio'] }, tools: echo }, now);
  await app.catalog.add({ name: 'everything-http', upstream: { transport: 'http', url: httpUpstream }, tools: echo }, now);
  const { agent, enrollmentToken } = await app.agents.add({ name: 'bench-bot', owner: 'alice', purpose: 'benchmark' }, now);
  const key = generateAgentKey();
  await app.agents.enroll(enrollmentToken, key.publicJwk, now);
  key.clientId = agent.spiffeId;
  const { mandateToken } = await app.mandates.grant(person, { agentId: agent.id, purpose: 'benchmark', allow: ['everything/echo', 'everything-http/echo'], ttl: 3600 }, now);
  await app.close();
  return { dataDir, key, mandateToken };
}

async function taskToken(url: string, world: World, server: string): Promise<string> {
  return (await exchangeForTaskToken(`${url}/oauth/token`, world.mandateToken, world.key, `${url}/mcp/${server}`)).accessToken;
}

interface Round {
  calls: number;
  seconds: number;
  latencies: number[];
  errors: number;
  cpuTicks: number | null;
}

async function drive(clients: Client[], seconds: number, pid: number | null): Promise<Round> {
  const latencies: number[] = [];
  let errors = 0;
  const deadline = performance.now() + seconds * 1000;
  const cpuBefore = pid !== null ? cpuTicks(pid) : 0;
  const started = performance.now();
  await Promise.all(clients.map(async (client, i) => {
    while (performance.now() < deadline) {
      const t0 = performance.now();
      try {
        const result = await client.callTool({ name: 'echo', arguments: { message: `bench ${i}` } });
        if (result.isError) errors++;
      } catch {
        errors++;
      }
      latencies.push(performance.now() - t0);
    }
  }));
  const elapsed = (performance.now() - started) / 1000;
  return { calls: latencies.length, seconds: elapsed, latencies, errors, cpuTicks: pid !== null ? cpuTicks(pid) - cpuBefore : null };
}

export async function gatewayBench(): Promise<GatewayBenchResult> {
  const children: ChildProcess[] = [];
  const clients: Client[] = [];
  let world: World | undefined;
  try {
    const upstreamPort = await freePort();
    children.push(await startProcess([EVERYTHING, 'streamableHttp'], { PORT: String(upstreamPort) }, /listening/i, 'server-everything'));
    const httpUpstream = `http://127.0.0.1:${upstreamPort}/mcp`;

    const mandatePort = await freePort();
    world = await prepare(mandatePort, httpUpstream);
    const mandate = await startMandate(world.dataDir, mandatePort);
    children.push(mandate);
    const mandateUrl = `http://127.0.0.1:${mandatePort}`;

    const proxyPort = await freePort();
    const proxy = await startProcess([MCP_PROXY, '--port', String(proxyPort), '--server', 'stream', '--', process.execPath, EVERYTHING, 'stdio'], {}, /on port \d+|listening/i, 'mcp-proxy');
    children.push(proxy);

    const tokens = { http: await taskToken(mandateUrl, world, 'everything-http'), stdio: await taskToken(mandateUrl, world, 'everything') };
    const connect = async (target: Target): Promise<Client> => {
      let client: Client;
      if (target === 'gateway-http') client = await connectToGateway(`${mandateUrl}/mcp/everything-http`, tokens.http, world!.key, 'bench');
      else if (target === 'gateway-stdio') client = await connectToGateway(`${mandateUrl}/mcp/everything`, tokens.stdio, world!.key, 'bench');
      else {
        client = new Client({ name: 'bench', version: '1.0.0' });
        if (target === 'direct-stdio') await client.connect(new StdioClientTransport({ command: process.execPath, args: [EVERYTHING, 'stdio'], stderr: 'ignore' }));
        else await client.connect(new StreamableHTTPClientTransport(new URL(target === 'direct-http' ? httpUpstream : `http://127.0.0.1:${proxyPort}/mcp`)));
      }
      clients.push(client);
      return client;
    };
    const TARGETS = benchTargets();
    const pools = Object.fromEntries(await Promise.all(TARGETS.map(async (t) => [t, await Promise.all(Array.from({ length: CLIENTS }, () => connect(t)))] as const))) as Record<Target, Client[]>;
    const measured = cpuAvailable();
    const pidOf = (t: Target): number | null => (!measured ? null : t.startsWith('gateway') ? mandate.pid ?? null : t === 'mcp-proxy' ? proxy.pid ?? null : null);

    for (const t of TARGETS) await drive(pools[t], WARM_UP_SECONDS, null); // warm-up: JIT, caches, upstream processes
    const rounds = Object.fromEntries(TARGETS.map((t) => [t, [] as Round[]])) as Record<Target, Round[]>;
    for (let r = 0; r < ROUNDS; r++) {
      for (const t of TARGETS) rounds[t].push(await drive(pools[t], SECONDS_PER_ROUND, pidOf(t)));
    }
    // One client each, interleaved likewise: gateway and mcp-proxy with one upstream process each.
    const pair: Target[] = TARGETS.includes('gateway-stdio') && TARGETS.includes('mcp-proxy') ? ['gateway-stdio', 'mcp-proxy'] : [];
    const single = Object.fromEntries(pair.map((t) => [t, [] as Round[]])) as Record<Target, Round[]>;
    for (let r = 0; r < ROUNDS && pair.length > 0; r++) {
      for (const t of pair) single[t].push(await drive(pools[t].slice(0, 1), SECONDS_PER_ROUND, pidOf(t)));
    }
    const rate = (round: Round) => round.calls / round.seconds;
    const targets = Object.fromEntries(TARGETS.map((t) => {
      const all = rounds[t];
      const latencies = all.flatMap((x) => x.latencies);
      const calls = all.reduce((n, x) => n + x.calls, 0);
      const ticks = all.every((x) => x.cpuTicks !== null) ? all.reduce((n, x) => n + (x.cpuTicks as number), 0) : null;
      return [t, {
        callsPerSecond: median(all.map(rate)), p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99),
        errors: all.reduce((n, x) => n + x.errors, 0), cpuPerCallUs: ticks === null ? null : (ticks / TICKS_PER_SECOND / calls) * 1e6,
      } satisfies TargetResult];
    })) as Partial<Record<Target, TargetResult>>;
    const perRound = (a: Target, b: Target, of: (round: Round) => number, from = rounds): RoundRatio | null => {
      if (!from[a]?.length || !from[b]?.length) return null;
      const ratios = from[a].map((x, i) => of(x) / of(from[b][i] as Round));
      if (!ratios.every(Number.isFinite)) return null;
      return { median: median(ratios), min: Math.min(...ratios), max: Math.max(...ratios) };
    };
    const cpuPerCall = (round: Round): number => (round.cpuTicks ?? Number.NaN) / round.calls;
    return {
      clients: CLIENTS, rounds: ROUNDS, targets,
      ratioVsDirect: perRound('gateway-http', 'direct-http', rate),
      ratioVsMcpProxy: perRound('gateway-stdio', 'mcp-proxy', rate),
      cpuVsMcpProxy: perRound('gateway-stdio', 'mcp-proxy', cpuPerCall),
      oneClient: oneClient(perRound('gateway-stdio', 'mcp-proxy', rate, single), perRound('gateway-stdio', 'mcp-proxy', cpuPerCall, single), single),
    };
  } finally {
    await Promise.allSettled(clients.map((c) => c.close()));
    for (const child of children) child.kill();
    if (world) await rm(world.dataDir, { recursive: true, force: true });
  }
}

function oneClient(ratio: RoundRatio | null, cpu: RoundRatio | null, single: Record<Target, Round[]>): GatewayBenchResult['oneClient'] {
  if (!ratio || !cpu) return null;
  const cpuUs = (rounds: Round[]) => (rounds.reduce((n, x) => n + (x.cpuTicks ?? 0), 0) / TICKS_PER_SECOND / rounds.reduce((n, x) => n + x.calls, 0)) * 1e6;
  return { ratioVsMcpProxy: ratio, cpuVsMcpProxy: cpu, gatewayCpuUs: cpuUs(single['gateway-stdio']), mcpProxyCpuUs: cpuUs(single['mcp-proxy']) };
}

export function printGateway(r: GatewayBenchResult): void {
  const t = r.targets;
  console.log('MCP tools/call (server-everything echo): gateway vs direct vs mcp-proxy, same SDK client, same run');
  console.log(`  ${r.clients} concurrent clients, ${WARM_UP_SECONDS} s unmeasured warm-up per target, then ${r.rounds} interleaved rounds of ${SECONDS_PER_ROUND} s; calls/s = median of rounds; latency over all calls`);
  console.log('');
  const row = (label: Target, base?: Target) => {
    const x = t[label];
    if (!x) return;
    const b = base ? t[base] : undefined;
    console.log(
      `  ${label.padEnd(14)} ${fmt(x.callsPerSecond).padStart(7)} /s   p50 ${fmt(x.p50Ms, 2).padStart(6)} ms   p99 ${fmt(x.p99Ms, 2).padStart(6)} ms`
      + (b ? `   added p50 ${fmt(x.p50Ms - b.p50Ms, 2)} ms, p99 ${fmt(x.p99Ms - b.p99Ms, 2)} ms` : '')
      + (x.cpuPerCallUs !== null ? `   CPU ${fmt(x.cpuPerCallUs)} µs/call` : '')
      + (x.errors ? `   ${x.errors} errors` : ''),
    );
  };
  row('direct-http');
  row('gateway-http', 'direct-http');
  row('direct-stdio');
  row('gateway-stdio', 'direct-stdio');
  row('mcp-proxy', 'direct-stdio');
  console.log('');
  const ratio = (label: string, x: RoundRatio | null, target: string) => {
    if (x) console.log(`  ${label.padEnd(30)} ${fmt(x.median, 2)} ×   (rounds ${fmt(x.min, 2)}–${fmt(x.max, 2)})   (target ${target})`);
  };
  ratio('gateway-http / direct-http', r.ratioVsDirect, '≥ 0.50 ×');
  ratio('gateway-stdio / mcp-proxy', r.ratioVsMcpProxy, '≥ 1.00 ×');
  const cpu = t['gateway-stdio']?.cpuPerCallUs ?? null;
  if (cpu !== null) {
    const http = t['gateway-http']?.cpuPerCallUs;
    console.log(`  gateway CPU per governed call  ${fmt(cpu)} µs (stdio upstream${http !== undefined && http !== null ? `; HTTP upstream ${fmt(http)} µs` : ''})   (target ≤ 400 µs)`);
  }
  if (r.cpuVsMcpProxy) console.log(`  gateway CPU / mcp-proxy CPU     ${fmt(r.cpuVsMcpProxy.median, 2)} ×   (rounds ${fmt(r.cpuVsMcpProxy.min, 2)}–${fmt(r.cpuVsMcpProxy.max, 2)}): the same relay, plus identity, policy and audit`);
  const one = r.oneClient;
  if (one) {
    console.log('');
    console.log(`  one client each (mcp-proxy relays all its clients through one upstream process, the gateway gives each session its own):`);
    console.log(`  gateway-stdio / mcp-proxy      ${fmt(one.ratioVsMcpProxy.median, 2)} ×   (rounds ${fmt(one.ratioVsMcpProxy.min, 2)}–${fmt(one.ratioVsMcpProxy.max, 2)})   CPU ${fmt(one.gatewayCpuUs)} vs ${fmt(one.mcpProxyCpuUs)} µs/call, ${fmt(one.cpuVsMcpProxy.median, 2)} ×`);
  }
}
