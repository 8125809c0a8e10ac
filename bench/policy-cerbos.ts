// Mandate's decision point against the Cerbos PDP (the `cerbos` npm package's
// platform binary, run as a server on loopback) on the same requests, with the
// 1,000-policy set given to Cerbos as resource policies, one per server (resource
// kind `tool:<server>`): each Cedar policy a rule of every server's policy it can
// apply to, written by bench/policy-world.ts (see the mapping there). Before timing,
// Cerbos's decisions are compared with plain Cedar's on a sample.
//
//   mandate            DecisionPoint.decide in this process (no hop)
//   mandate-http       the decision point in a child process behind node:http
//                      (bench/policy-server.ts), JSON over a keep-alive connection
//   cerbos-grpc        Cerbos CheckResources over gRPC (@cerbos/grpc)
//   cerbos-http        Cerbos POST /api/check/resources, JSON over keep-alive
//   cerbos-floor       Cerbos over gRPC on a kind whose policy is one unconditional
//                      rule: what a check costs Cerbos here whatever the policy
//
// Cerbos is always out of process; mandate-http puts Mandate behind a hop of the same
// kind. Each is measured with 1 request in flight (latency) and 4 (throughput), the
// client sharing the machine's cores with the server; the server's CPU time per
// decision is read from /proc. Cerbos is a multi-threaded Go server, the decision
// point one Node thread.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GRPC } from '@cerbos/grpc';
import type { Value } from '@cerbos/core';
import { Pool } from 'undici';
import { freePort } from '../src/lib/free-port.ts';
import type { Answer, LoadedWorld } from './policy.ts';
import { cerbosPolicies, requests, type BenchRequest } from './policy-world.ts';
import { cpuAvailable, cpuTicks, threadCpu, TICKS_PER_SECOND } from './proc.ts';
import { fmt, median, percentile } from './stats.ts';

const require = createRequire(import.meta.url);
const ROUNDS = 5;
const BUDGET_MS = 300;
const WARMUP_MS = 1_000;
const MAX_PER_ROUND = 4_000;
const IN_FLIGHT = 4;
const CHECK = 200;
const STREAM = { check: 30, warmup: 31, single: 40, concurrent: 50 } as const;

type Remote = 'mandate-http' | 'cerbos-grpc' | 'cerbos-http' | 'cerbos-floor';
type Target = 'mandate' | Remote;
const OUT_OF_PROCESS: Remote[] = ['mandate-http', 'cerbos-grpc', 'cerbos-http'];
const FLOOR_KIND = 'bench:floor';

export interface CerbosTargetResult {
  inFlight: number;
  decisionsPerSecond: number;
  p50Us: number;
  p99Us: number;
  samples: number;
  /** CPU time per decision of the server process (from /proc; null without it), or in process of this thread. */
  serverCpuUs: number | null;
}

export interface CerbosResult {
  cerbosVersion: string;
  binaryPackage: string;
  policies: number;
  /** Cerbos resource policies (one per server) and the rules they hold in all (organisation-wide rules are in each). */
  resourcePolicies: number;
  rules: number;
  checked: number;
  rounds: number;
  targets: Record<string, CerbosTargetResult>;
}

function cerbosBinary(): { path: string; pkg: string } | { missing: string } {
  const pkg = `@cerbos/cerbos-${process.platform}-${process.arch}`;
  try {
    return { path: require.resolve(pkg), pkg };
  } catch {
    return { missing: `${pkg} is not installed (Mandate lists the linux-x64 PDP of the cerbos npm release as an optional dependency; add the one for this platform to compare here)` };
  }
}

function startChild(command: string, args: string[], env: Record<string, string>): ChildProcess {
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-2000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  Object.defineProperty(child, 'recentOutput', { get: () => output });
  return child;
}

async function waitUntil(child: ChildProcess, what: string, ready: () => Promise<boolean>): Promise<void> {
  const deadline = performance.now() + 30_000;
  while (performance.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode}: ${(child as unknown as { recentOutput: string }).recentOutput}`);
    if (await ready().catch(() => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${what} did not start: ${(child as unknown as { recentOutput: string }).recentOutput}`);
}

interface Round {
  count: number;
  seconds: number;
  latencies: number[];
  /** The server's CPU ticks over the round (out of process), or this thread's CPU µs (in process). */
  cpuTicks: number | null;
  cpuUs?: number;
}

async function drive(batch: readonly BenchRequest[], inFlight: number, call: (r: BenchRequest) => Promise<unknown>, pid: number | null, budgetMs = BUDGET_MS): Promise<Round> {
  const latencies: number[] = [];
  let next = 0;
  const cpuBefore = pid !== null ? cpuTicks(pid) : 0;
  const started = performance.now();
  const deadline = started + budgetMs;
  await Promise.all(Array.from({ length: inFlight }, async () => {
    while (next < batch.length && performance.now() < deadline) {
      const request = batch[next++] as BenchRequest;
      const t0 = performance.now();
      await call(request);
      latencies.push(performance.now() - t0);
    }
  }));
  return { count: latencies.length, seconds: (performance.now() - started) / 1000, latencies, cpuTicks: pid !== null ? cpuTicks(pid) - cpuBefore : null };
}

function driveSync(batch: readonly BenchRequest[], decide: (r: BenchRequest) => unknown): Round {
  const latencies: number[] = [];
  const cpu0 = threadCpu();
  const started = performance.now();
  const deadline = started + BUDGET_MS;
  for (let i = 0; i < batch.length && performance.now() < deadline; i++) {
    const t0 = performance.now();
    decide(batch[i] as BenchRequest);
    latencies.push(performance.now() - t0);
  }
  return { count: latencies.length, seconds: (performance.now() - started) / 1000, latencies, cpuTicks: null, cpuUs: threadCpu() - cpu0 };
}

export async function cerbosBench(loaded: LoadedWorld): Promise<CerbosResult | { skipped: string }> {
  const binary = cerbosBinary();
  if ('missing' in binary) return { skipped: binary.missing };
  const { world, set, point, plain } = loaded;
  const version = execFileSync(binary.path, ['--version'], { encoding: 'utf8', timeout: 10_000 }).split('\n')[0]?.trim() ?? '?';
  const dir = await mkdtemp(join(tmpdir(), 'mandate-bench-cerbos-'));
  const children: ChildProcess[] = [];
  const closers: Array<() => Promise<unknown> | void> = [];
  try {
    await writeFile(join(dir, 'sources.json'), JSON.stringify(world.sources));
    await mkdir(join(dir, 'policies'));
    const cerbosSet = cerbosPolicies(world);
    for (const [file, text] of cerbosSet.files) await writeFile(join(dir, 'policies', file), text);
    // Cerbos's own cost of a check, whatever the policy: a kind whose policy is one unconditional rule.
    await writeFile(join(dir, 'policies', 'floor.yaml'), JSON.stringify({
      apiVersion: 'api.cerbos.dev/v1', resourcePolicy: { version: 'default', resource: FLOOR_KIND, rules: [{ name: 'allow-all', actions: ['tools/call'], effect: 'EFFECT_ALLOW', roles: ['*'] }] },
    }));

    const [httpPort, grpcPort, mandatePort] = [await freePort(), await freePort(), await freePort()];
    const cerbos = startChild(binary.path, [
      'server', '--log-level=error', '--set=storage.driver=disk', `--set=storage.disk.directory=${join(dir, 'policies')}`,
      `--set=server.httpListenAddr=127.0.0.1:${httpPort}`, `--set=server.grpcListenAddr=127.0.0.1:${grpcPort}`, '--set=telemetry.disabled=true',
    ], { CERBOS_NO_TELEMETRY: '1', OTEL_SDK_DISABLED: 'true' });
    children.push(cerbos);
    const flags = process.features.typescript ? [] : ['--experimental-strip-types', '--disable-warning=ExperimentalWarning'];
    const server = startChild(process.execPath, [...flags, new URL('./policy-server.ts', import.meta.url).pathname, join(dir, 'sources.json'), String(mandatePort)], {});
    children.push(server);
    const cerbosHttp = new Pool(`http://127.0.0.1:${httpPort}`, { connections: IN_FLIGHT });
    const mandateHttp = new Pool(`http://127.0.0.1:${mandatePort}`, { connections: IN_FLIGHT });
    closers.push(() => cerbosHttp.close(), () => mandateHttp.close());
    await waitUntil(cerbos, 'cerbos server', async () => (await fetch(`http://127.0.0.1:${httpPort}/_cerbos/health`)).ok);
    await waitUntil(server, 'the decision-point server', async () => (await fetch(`http://127.0.0.1:${mandatePort}/`, { method: 'POST', body: '{}' })).status === 400);
    const grpc = new GRPC(`127.0.0.1:${grpcPort}`, { tls: false });
    closers.push(() => grpc.close());

    const local = (r: BenchRequest): boolean => point.decide(r.cedar).decision === 'allow';
    const calls: Record<Remote, (r: BenchRequest) => Promise<boolean>> = {
      'mandate-http': async (r) => {
        const { statusCode, body } = await mandateHttp.request({ path: '/decide', method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(r.cedar) });
        const answer = await body.json() as { decision?: string; error?: string };
        if (statusCode !== 200) throw new Error(`decision-point server answered ${statusCode}: ${answer.error}`);
        return answer.decision === 'allow';
      },
      'cerbos-grpc': async (r) => (await grpc.checkResource({
        principal: { ...r.cerbos.principal, attr: r.cerbos.principal.attr as Record<string, Value> },
        resource: { ...r.cerbos.resource, attr: r.cerbos.resource.attr as Record<string, Value> }, actions: ['tools/call'],
      })).isAllowed('tools/call') === true,
      'cerbos-floor': async (r) => (await grpc.checkResource({
        principal: { ...r.cerbos.principal, attr: r.cerbos.principal.attr as Record<string, Value> },
        resource: { ...r.cerbos.resource, kind: FLOOR_KIND, attr: r.cerbos.resource.attr as Record<string, Value> }, actions: ['tools/call'],
      })).isAllowed('tools/call') === true,
      'cerbos-http': async (r) => {
        const { statusCode, body } = await cerbosHttp.request({
          path: '/api/check/resources', method: 'POST', headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ requestId: 'bench', principal: r.cerbos.principal, resources: [{ actions: ['tools/call'], resource: r.cerbos.resource }] }),
        });
        const answer = await body.json() as { results?: Array<{ actions: Record<string, string> }>; message?: string };
        if (statusCode !== 200) throw new Error(`cerbos answered ${statusCode}: ${answer.message}`);
        return answer.results?.[0]?.actions['tools/call'] === 'EFFECT_ALLOW';
      },
    };

    // Equivalence: every engine's decision equals plain Cedar's on the sample.
    for (const r of requests(world, STREAM.check, CHECK)) {
      const reference: Answer = plain.read(plain.stateful(r.cedar));
      for (const target of OUT_OF_PROCESS) {
        const allowed = await calls[target](r);
        if (allowed !== (reference.decision === 'allow')) {
          const rules = world.rules.filter((rule) => reference.reasons.includes(rule.id)).map((rule) => rule.id);
          throw new Error([
            `policy benchmark: ${target} answers ${allowed ? 'allow' : 'deny'} where cedar answers ${reference.decision} by [${reference.reasons.join(', ')}]`
            + (target.startsWith('cerbos') ? ' (the Cedar → Cerbos mapping is wrong)' : ' (a bug of the decision point)'),
            `cedar request:\n${JSON.stringify(r.cedar, null, 2)}`, `cerbos request:\n${JSON.stringify(r.cerbos, null, 2)}`, `rules: ${rules.join(', ')}`,
          ].join('\n\n'));
        }
      }
    }

    // Warm-up: JIT on both sides, connections, the child's pre-parsed slices.
    const warm = requests(world, STREAM.warmup, 1_500);
    for (const target of OUT_OF_PROCESS) await drive(warm, IN_FLIGHT, calls[target], null, WARMUP_MS);

    const measured = cpuAvailable();
    const pidOf = (t: Target): number | null => (!measured ? null : t === 'mandate-http' ? server.pid ?? null : t.startsWith('cerbos') ? cerbos.pid ?? null : null);
    await drive(warm, 1, calls['cerbos-floor'], null, WARMUP_MS / 4);
    const rows: Array<{ key: string; target: Target; inFlight: number }> = [
      { key: 'mandate', target: 'mandate', inFlight: 1 },
      ...OUT_OF_PROCESS.map((target) => ({ key: `${target}×1`, target, inFlight: 1 })),
      { key: 'cerbos-floor×1', target: 'cerbos-floor', inFlight: 1 },
      ...OUT_OF_PROCESS.map((target) => ({ key: `${target}×${IN_FLIGHT}`, target, inFlight: IN_FLIGHT })),
    ];
    const rounds = Object.fromEntries(rows.map((row) => [row.key, [] as Round[]]));
    for (let round = 0; round < ROUNDS; round++) {
      // The same requests for every engine: one batch for 1 in flight, another for 4
      // (the child's decision memory would otherwise answer the second from the first).
      const single = requests(world, STREAM.single + round, MAX_PER_ROUND);
      const concurrent = requests(world, STREAM.concurrent + round, MAX_PER_ROUND);
      for (let k = 0; k < rows.length; k++) {
        const row = rows[(round + k) % rows.length] as (typeof rows)[number];
        const batch = row.inFlight === 1 ? single : concurrent;
        const r = row.target === 'mandate' ? driveSync(batch, local) : await drive(batch, row.inFlight, calls[row.target], pidOf(row.target));
        (rounds[row.key] as Round[]).push(r);
      }
    }
    const targets = Object.fromEntries(rows.map(({ key, inFlight }) => {
      const all = rounds[key] as Round[];
      const latencies = all.flatMap((x) => x.latencies);
      const count = all.reduce((n, x) => n + x.count, 0);
      const ticks = all.every((x) => x.cpuTicks !== null) ? all.reduce((n, x) => n + (x.cpuTicks as number), 0) : null;
      const inProcessUs = all.every((x) => x.cpuUs !== undefined) ? all.reduce((n, x) => n + (x.cpuUs as number), 0) : null;
      return [key, {
        inFlight, decisionsPerSecond: median(all.map((x) => x.count / x.seconds)), p50Us: percentile(latencies, 50) * 1000, p99Us: percentile(latencies, 99) * 1000,
        samples: latencies.length,
        serverCpuUs: inProcessUs !== null ? inProcessUs / count : ticks === null ? null : (ticks / TICKS_PER_SECOND / count) * 1e6,
      } satisfies CerbosTargetResult];
    }));
    return { cerbosVersion: version, binaryPackage: binary.pkg, policies: set.policies.length, resourcePolicies: cerbosSet.files.size, rules: cerbosSet.rules, checked: CHECK, rounds: ROUNDS, targets };
  } finally {
    for (const close of closers) await Promise.resolve(close()).catch(() => undefined);
    for (const child of children) child.kill();
    await rm(dir, { recursive: true, force: true });
  }
}

export function printCerbos(r: CerbosResult): void {
  console.log(`Cerbos PDP ${r.cerbosVersion} (${r.binaryPackage}) vs Mandate's decision point: the ${fmt(r.policies)}-policy set as ${r.resourcePolicies} Cerbos resource policies`);
  console.log(`  (one per server, kind tool:<server>; ${fmt(r.rules)} rules in all, each Cedar policy a rule of every server it can apply to)`);
  console.log(`  decisions equal to plain cedar's on ${r.checked} requests (Mandate over HTTP, Cerbos over gRPC and HTTP); then ${r.rounds} interleaved rounds,`);
  console.log('  same distinct requests for every engine; Cerbos is out of process, so Mandate is shown in process and behind one HTTP hop');
  console.log('');
  const label: Record<string, string> = {
    mandate: 'Mandate decision point, in process', 'mandate-http': 'Mandate decision point over HTTP (child)',
    'cerbos-grpc': 'Cerbos over gRPC (@cerbos/grpc)', 'cerbos-http': 'Cerbos over HTTP (/api/check/resources)',
    'cerbos-floor': 'Cerbos over gRPC, a one-rule policy (floor)',
  };
  for (const [key, t] of Object.entries(r.targets)) {
    const name = label[key.replace(/×\d+$/, '')] ?? key;
    console.log(`  ${String(t.inFlight).padStart(2)} in flight  ${name.padEnd(42)} ${fmt(t.decisionsPerSecond).padStart(8)} /s   p50 ${fmt(t.p50Us).padStart(7)} µs   p99 ${fmt(t.p99Us).padStart(7)} µs   n ${fmt(t.samples).padStart(5)}`
      + (t.serverCpuUs !== null ? `   ${key === 'mandate' ? 'its' : 'server'} CPU ${fmt(t.serverCpuUs).padStart(5)} µs/decision` : ''));
  }
  const t = r.targets;
  const ratio = (a: string, b: string) => (t[a] && t[b] ? fmt((t[a] as CerbosTargetResult).decisionsPerSecond / (t[b] as CerbosTargetResult).decisionsPerSecond, 2) : '?');
  console.log('');
  console.log(`  Mandate in process / Cerbos gRPC (1 in flight) ${ratio('mandate', 'cerbos-grpc×1')} ×   Mandate HTTP / Cerbos HTTP: 1 in flight ${ratio('mandate-http×1', 'cerbos-http×1')} ×, ${IN_FLIGHT} in flight ${ratio(`mandate-http×${IN_FLIGHT}`, `cerbos-http×${IN_FLIGHT}`)} ×`);
}
