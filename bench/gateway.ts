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

const ROUNDS = 3;
const SECONDS_PER_ROUND = 2;
/** Unmeasured calls first, per target, until the processes are warm (JIT compiled, caches filled): the figures are of a gateway that has been running. */
const WARM_UP_SECONDS = Number(process.env.MANDATE_BENCH_WARM_UP ?? 3);
/** Concurrent clients per target (MANDATE_BENCH_CLIENTS overrides). */
const CLIENTS = Number(process.env.MANDATE_BENCH_CLIENTS ?? 4);

type Target = 'direct-http' | 'gateway-http' | 'direct-stdio' | 'gateway-stdio' | 'mcp-proxy';
const TARGETS: Target[] = ['direct-http', 'gateway-http', 'direct-stdio', 'gateway-stdio', 'mcp-proxy'];

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
  targets: Record<Target, TargetResult>;
  /** gateway-http / direct-http calls/s, median of per-round ratios. */
  ratioVsDirect: number;
  /** gateway-stdio / mcp-proxy calls/s, median of per-round ratios. */
  ratioVsMcpProxy: number;
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
    const pools = Object.fromEntries(await Promise.all(TARGETS.map(async (t) => [t, await Promise.all(Array.from({ length: CLIENTS }, () => connect(t)))] as const))) as Record<Target, Client[]>;
    const measured = cpuAvailable();
    const pidOf = (t: Target): number | null => (!measured ? null : t.startsWith('gateway') ? mandate.pid ?? null : t === 'mcp-proxy' ? proxy.pid ?? null : null);

    for (const t of TARGETS) await drive(pools[t], WARM_UP_SECONDS, null); // warm-up: JIT, caches, upstream processes
    const rounds = Object.fromEntries(TARGETS.map((t) => [t, [] as Round[]])) as Record<Target, Round[]>;
    for (let r = 0; r < ROUNDS; r++) {
      for (const t of TARGETS) rounds[t].push(await drive(pools[t], SECONDS_PER_ROUND, pidOf(t)));
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
    })) as Record<Target, TargetResult>;
    const ratio = (a: Target, b: Target) => median(rounds[a].map((x, i) => rate(x) / rate(rounds[b][i] as Round)));
    return { clients: CLIENTS, rounds: ROUNDS, targets, ratioVsDirect: ratio('gateway-http', 'direct-http'), ratioVsMcpProxy: ratio('gateway-stdio', 'mcp-proxy') };
  } finally {
    await Promise.allSettled(clients.map((c) => c.close()));
    for (const child of children) child.kill();
    if (world) await rm(world.dataDir, { recursive: true, force: true });
  }
}

export function printGateway(r: GatewayBenchResult): void {
  const t = r.targets;
  console.log('MCP tools/call (server-everything echo): gateway vs direct vs mcp-proxy, same SDK client, same run');
  console.log(`  ${r.clients} concurrent clients, ${WARM_UP_SECONDS} s unmeasured warm-up per target, then ${r.rounds} interleaved rounds of ${SECONDS_PER_ROUND} s; calls/s = median of rounds; latency over all calls`);
  console.log('');
  const row = (label: string, x: TargetResult, base?: TargetResult) => console.log(
    `  ${label.padEnd(14)} ${fmt(x.callsPerSecond).padStart(7)} /s   p50 ${fmt(x.p50Ms, 2).padStart(6)} ms   p99 ${fmt(x.p99Ms, 2).padStart(6)} ms`
    + (base ? `   added p50 ${fmt(x.p50Ms - base.p50Ms, 2)} ms, p99 ${fmt(x.p99Ms - base.p99Ms, 2)} ms` : '')
    + (x.cpuPerCallUs !== null ? `   CPU ${fmt(x.cpuPerCallUs)} µs/call` : '')
    + (x.errors ? `   ${x.errors} errors` : ''),
  );
  row('direct-http', t['direct-http']);
  row('gateway-http', t['gateway-http'], t['direct-http']);
  row('direct-stdio', t['direct-stdio']);
  row('gateway-stdio', t['gateway-stdio'], t['direct-stdio']);
  row('mcp-proxy', t['mcp-proxy'], t['direct-stdio']);
  console.log('');
  console.log(`  gateway-http / direct-http     ${fmt(r.ratioVsDirect, 2)} ×   (target ≥ 0.50 ×)`);
  console.log(`  gateway-stdio / mcp-proxy      ${fmt(r.ratioVsMcpProxy, 2)} ×   (target ≥ 1.00 ×)`);
  const cpu = t['gateway-stdio'].cpuPerCallUs;
  if (cpu !== null) console.log(`  gateway CPU per governed call  ${fmt(cpu)} µs (stdio upstream; HTTP upstream ${fmt(t['gateway-http'].cpuPerCallUs ?? 0)} µs)   (target ≤ 400 µs)`);
}
