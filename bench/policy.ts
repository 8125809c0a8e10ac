// Policy decisions: Mandate's decision point against plain cedar-wasm on the same
// generated policy sets (10, 100, 1,000 and 10,000 policies) and the same requests,
// in the same run, in interleaved rounds; then against the Cerbos PDP on an
// equivalent policy (bench/policy-cerbos.ts).
//
//   mandate    DecisionPoint.decide: index lookup of the policies whose scope can
//              apply, Cedar over that pre-parsed slice, the decision memory. Every
//              request is distinct (its own mandate), so the memory never answers:
//              the headline is cache-cold.
//   repeat     the same, on a mix where 90 % of requests repeat one of the last 500
//              distinct ones (an agent calling a tool again under the same mandate).
//   stateful   cedar statefulIsAuthorized over the whole set pre-parsed once: the
//              best plain Cedar does without slicing.
//   stateless  cedar isAuthorized with the whole set passed (and parsed) every call.
//
// Both baselines get the set as one policy text (cedar-wasm parses that fastest) and
// their answers' positional ids (`policy<N>`) are mapped back to the policies' ids.
// Before anything is timed, the decision point's answers (decision and determining
// policies) are compared with plain Cedar's on a sample of requests; any difference
// stops the benchmark with the request and the policies involved.
import { readFileSync } from 'node:fs';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { DecisionPoint, type AuthorizationRequest } from '../src/policy/decision-point.ts';
import { PolicySet, splitPolicies } from '../src/policy/policy-set.ts';
import { cerbosBench, printCerbos, type CerbosResult } from './policy-cerbos.ts';
import { benchSchema, generateWorld, repeatMix, requests, type BenchRequest, type World } from './policy-world.ts';
import { threadCpu, threadCpuMeasured } from './proc.ts';
import { fmt, median, percentile } from './stats.ts';

/** The set sizes measured (MANDATE_BENCH_POLICY_SIZES=10,100 picks others). */
export const SIZES = [10, 100, 1_000, 10_000] as const;
/** The size the targets are stated at, and the set Cerbos is given. */
export const TARGET_SIZE = 1_000;
const TARGET_RATIO = 20;
const TARGET_P99_US = 200;
const MAX_PER_ROUND = 4_000;

interface Plan {
  rounds: number;
  /** Time each engine is given per round (at least one decision each). */
  budgetMs: number;
  repeatBudgetMs: number;
  warmupMs: number;
  /** Requests whose answers are compared with plain Cedar's before timing (stateless on the first few). */
  check: number;
  checkStateless: number;
  /** Validate the generated set against the schema (slow at 10,000; the same generator made the smaller ones). */
  validate: boolean;
}

const planFor = (size: number): Plan => (size >= 10_000
  ? { rounds: 3, budgetMs: 500, repeatBudgetMs: 300, warmupMs: 2_000, check: 20, checkStateless: 2, validate: false }
  : { rounds: 5, budgetMs: 400, repeatBudgetMs: 250, warmupMs: 1_500, check: 300, checkStateless: size <= 100 ? 100 : 10, validate: true });

// Request streams (a stream's requests never repeat another's).
const STREAM = { check: 1, warmup: 2, round: 10, repeat: 20 } as const;

export interface EngineResult {
  decisionsPerSecond: number;
  p50Us: number;
  p99Us: number;
  samples: number;
  /** Mean CPU time of this thread per decision, µs. */
  cpuUs: number;
}

export interface SizeResult {
  policies: number;
  world: { agents: number; teams: number; servers: number; tools: number };
  loadMs: number;
  validated: boolean;
  rounds: number;
  check: {
    requests: number;
    statelessRequests: number;
    allow: number;
    denyByForbid: number;
    denyByDefault: number;
    /** Mean number of policies in the slice the decision point asks Cedar with. */
    meanSlice: number;
    distinctSlices: number;
  };
  mandate: EngineResult;
  mandateRepeat: EngineResult;
  stateful: EngineResult;
  stateless: EngineResult;
  /** Median over rounds of mandate/stateless (and /stateful) decisions/s within each round. */
  ratioVsStateless: number;
  ratioVsStatelessRange: [number, number];
  ratioVsStateful: number;
  /** stateless / mandate CPU time per decision: the same ratio with other processes' load left out. */
  ratioVsStatelessCpu: number;
  /** Share of the timed cache-cold requests whose slice the decision point had not met before (pre-parsed inside the timed call). */
  newSliceShare: number;
  /** p99 of the cache-cold decisions whose slice the decision point had met before. */
  knownSliceP99Us: number | null;
  /** Whether the CPU figures are this thread's alone (Node ≥ 23.9), else the process's. */
  cpuIsThread: boolean;
}

export interface PolicyBenchResult {
  sizes: SizeResult[];
  targets: { size: number; ratioVsStateless: number; ratioVsStatelessCpu: number; ratioTarget: number; p99Us: number; p99TargetUs: number } | null;
  cerbos: CerbosResult | { skipped: string } | null;
  seconds: number;
}

interface Sample {
  count: number;
  seconds: number;
  latencies: number[];
  /** CPU time of this thread over the run, µs (other processes' load does not count). */
  cpuUs: number;
}


/** Runs `decide` over the batch until it is done or the budget is spent (at least `min` calls). */
function timeSync(batch: readonly BenchRequest[], decide: (request: AuthorizationRequest) => unknown, budgetMs: number, min = 1): Sample {
  const latencies: number[] = [];
  const cpu0 = threadCpu();
  const started = performance.now();
  const deadline = started + budgetMs;
  let now = started;
  let i = 0;
  while (i < batch.length && (i < min || now < deadline)) {
    const t0 = performance.now();
    decide((batch[i] as BenchRequest).cedar);
    now = performance.now();
    latencies.push(now - t0);
    i++;
  }
  const seconds = (performance.now() - started) / 1000;
  return { count: i, seconds, latencies, cpuUs: threadCpu() - cpu0 };
}


const rate = (s: Sample): number => s.count / s.seconds;

function engineResult(samples: Sample[]): EngineResult {
  const latencies = samples.flatMap((s) => s.latencies);
  const count = samples.reduce((n, s) => n + s.count, 0);
  return {
    decisionsPerSecond: median(samples.map(rate)), p50Us: percentile(latencies, 50) * 1000, p99Us: percentile(latencies, 99) * 1000, samples: latencies.length,
    cpuUs: samples.reduce((n, s) => n + s.cpuUs, 0) / count,
  };
}

/** Plain Cedar over one set: the whole set as one text, answers mapped back to policy ids. */
export class PlainCedar {
  readonly #text: string;
  readonly #ids: readonly string[];
  readonly #preparsed: string;

  constructor(set: PolicySet, name: string) {
    this.#text = set.policies.map((p) => p.text).join('\n');
    this.#ids = set.policies.map((p) => p.id);
    this.#preparsed = `bench-whole-${name}`;
    const parsed = cedar.preparsePolicySet(this.#preparsed, { staticPolicies: this.#text });
    if (parsed.type === 'failure') throw new Error(`cedar could not parse the ${name} set: ${parsed.errors.map((e) => e.message).join('; ')}`);
  }

  stateless(r: AuthorizationRequest): cedar.AuthorizationAnswer {
    return cedar.isAuthorized({ principal: r.principal, action: { type: 'Action', id: r.action }, resource: r.resource, context: r.context, entities: r.entities as cedar.Entities, policies: { staticPolicies: this.#text } });
  }

  stateful(r: AuthorizationRequest): cedar.AuthorizationAnswer {
    return cedar.statefulIsAuthorized({ principal: r.principal, action: { type: 'Action', id: r.action }, resource: r.resource, context: r.context, entities: r.entities as cedar.Entities, preparsedPolicySetId: this.#preparsed });
  }

  /** Cedar's answer with policy ids, reasons sorted. */
  read(answer: cedar.AuthorizationAnswer): Answer {
    if (answer.type === 'failure') return { decision: 'deny', reasons: [], errors: answer.errors.map((e) => `request: ${e.message}`) };
    const id = (positional: string): string => this.#ids[Number(positional.replace(/^policy/, ''))] ?? positional;
    const { decision, diagnostics } = answer.response;
    return { decision, reasons: diagnostics.reason.map(id).sort(), errors: diagnostics.errors.map((e) => `${id(e.policyId)}: ${e.error.message}`).sort() };
  }
}

export interface Answer {
  decision: 'allow' | 'deny';
  reasons: string[];
  errors: string[];
}

const same = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

/** Thrown when the decision point and plain Cedar answer a request differently: a bug of the decision point. */
export class Disagreement extends Error {}

function disagreement(what: string, set: PolicySet, request: AuthorizationRequest, answers: Record<string, Answer>): Disagreement {
  const involved = new Set(Object.values(answers).flatMap((a) => a.reasons));
  const texts = set.policies.filter((p) => involved.has(p.id)).map((p) => p.text.trim()).join('\n\n');
  return new Disagreement([
    `policy benchmark: ${what} (${set.policies.length}-policy set ${set.hash})`,
    `request:\n${JSON.stringify(request, null, 2)}`,
    ...Object.entries(answers).map(([who, a]) => `${who}: ${a.decision} by [${a.reasons.join(', ')}]${a.errors.length ? ` errors [${a.errors.join('; ')}]` : ''}`),
    `policies named:\n${texts || '(none)'}`,
  ].join('\n\n'));
}

/** The decision point's answers against plain Cedar's (stateful; stateless too on the first few). */
function checkAgreement(set: PolicySet, point: DecisionPoint, plain: PlainCedar, sample: readonly BenchRequest[], statelessCount: number): SizeResult['check'] {
  let allow = 0;
  let denyByForbid = 0;
  let slices = 0;
  const distinct = new Set<string>();
  sample.forEach(({ cedar: request }, i) => {
    const reference = plain.read(plain.stateful(request));
    if (i < statelessCount) {
      const stateless = plain.read(plain.stateless(request));
      if (stateless.decision !== reference.decision || !same(stateless.reasons, reference.reasons)) throw disagreement('plain cedar stateless and stateful disagree', set, request, { stateless, stateful: reference });
    }
    const evaluation = point.evaluate(request);
    const decision = point.decide(request);
    const mandate: Answer = { decision: decision.decision, reasons: [...decision.policies], errors: decision.errors };
    if (reference.errors.length > 0) throw disagreement('plain cedar reports evaluation errors (the generated set or request is wrong)', set, request, { cedar: reference });
    if (evaluation.decision !== reference.decision || !same(evaluation.reasons, reference.reasons) || evaluation.errors.length > 0
      || mandate.decision !== reference.decision || !same(mandate.reasons, reference.reasons) || mandate.errors.length > 0) {
      throw disagreement('the decision point disagrees with plain cedar', set, request, { 'cedar (whole set)': reference, 'DecisionPoint.evaluate': { decision: evaluation.decision, reasons: evaluation.reasons, errors: evaluation.errors }, 'DecisionPoint.decide': mandate });
    }
    if (reference.decision === 'allow') allow++;
    else if (reference.reasons.length > 0) denyByForbid++;
    const candidates = point.candidates(request);
    slices += candidates.length;
    distinct.add(candidates.map((p) => p.id).join('\n'));
  });
  return {
    requests: sample.length, statelessRequests: Math.min(statelessCount, sample.length), allow, denyByForbid, denyByDefault: sample.length - allow - denyByForbid,
    meanSlice: slices / sample.length, distinctSlices: distinct.size,
  };
}

export interface LoadedWorld {
  world: World;
  set: PolicySet;
  point: DecisionPoint;
  plain: PlainCedar;
}

function load(size: number, schemaText: string, validate: boolean): { loaded: LoadedWorld; loadMs: number } {
  const world = generateWorld(size);
  const t0 = performance.now();
  const set = validate ? PolicySet.load(world.sources, schemaText) : PolicySet.unvalidated(splitPolicies(world.sources));
  const loadMs = performance.now() - t0;
  if (set.policies.length !== size) throw new Error(`generated ${set.policies.length} policies, not ${size}`);
  return { loaded: { world, set, point: new DecisionPoint(set), plain: new PlainCedar(set, String(size)) }, loadMs };
}

async function sizeBench(size: number, schemaText: string, keep: (loaded: LoadedWorld) => void): Promise<SizeResult> {
  const plan = planFor(size);
  const { loaded, loadMs } = load(size, schemaText, plan.validate);
  const { world, set, point, plain } = loaded;
  const sample = requests(world, STREAM.check, plan.check);
  const check = checkAgreement(set, point, plain, sample, plan.checkStateless);

  const seen = new Set<string>();
  const sliceKey = (r: BenchRequest): string => point.candidates(r.cedar).map((p) => p.id).join('\n');
  /** For each of the first `count` requests, whether its slice was new to the decision point. */
  const remember = (batch: readonly BenchRequest[], count: number): boolean[] => batch.slice(0, count).map((r) => {
    const key = sliceKey(r);
    const fresh = !seen.has(key);
    seen.add(key);
    return fresh;
  });
  for (const r of sample) seen.add(sliceKey(r));

  // Warm-up: JIT, and the decision point's pre-parsed slices in the steady state a
  // stream of this shape reaches (requests of their own stream, never timed).
  const warmStarted = performance.now();
  let warmed = 0;
  let warmSeconds = 0;
  while (performance.now() - warmStarted < plan.warmupMs) {
    const batch = requests(world, STREAM.warmup, 200, warmed);
    const s = timeSync(batch, (r) => point.decide(r), Infinity);
    warmSeconds += s.seconds;
    remember(batch, s.count);
    warmed += s.count;
  }
  timeSync(requests(world, STREAM.warmup, 20, warmed), (r) => plain.stateful(r), plan.budgetMs);
  const expected = Math.min(MAX_PER_ROUND, Math.ceil((warmed / warmSeconds) * (plan.budgetMs / 1000) * 1.5) + 50);

  const samples = { mandate: [] as Sample[], repeat: [] as Sample[], stateful: [] as Sample[], stateless: [] as Sample[] };
  const knownSliceLatencies: number[] = [];
  let timedCold = 0;
  let newSlices = 0;
  const engines = ['mandate', 'stateful', 'stateless'] as const;
  for (let round = 0; round < plan.rounds; round++) {
    const batch = requests(world, STREAM.round + round, expected);
    const repeat = repeatMix(world, STREAM.repeat + round, MAX_PER_ROUND);
    for (let k = 0; k < engines.length; k++) {
      const engine = engines[(round + k) % engines.length] as (typeof engines)[number];
      if (engine === 'mandate') {
        const s = timeSync(batch, (r) => point.decide(r), plan.budgetMs);
        samples.mandate.push(s);
        timedCold += s.count;
        remember(batch, s.count).forEach((fresh, i) => {
          if (fresh) newSlices++;
          else knownSliceLatencies.push(s.latencies[i] as number);
        });
      } else if (engine === 'stateful') samples.stateful.push(timeSync(batch, (r) => plain.stateful(r), plan.budgetMs));
      else samples.stateless.push(timeSync(batch, (r) => plain.stateless(r), plan.budgetMs));
    }
    samples.repeat.push(timeSync(repeat, (r) => point.decide(r), plan.repeatBudgetMs));
    await new Promise((resolve) => setImmediate(resolve));
  }
  keep(loaded);
  const ratios = samples.mandate.map((s, i) => rate(s) / rate(samples.stateless[i] as Sample));
  return {
    policies: size,
    world: { agents: world.agents.length, teams: world.teams.length, servers: world.servers.length, tools: world.tools.length },
    loadMs, validated: plan.validate, rounds: plan.rounds, check,
    mandate: engineResult(samples.mandate), mandateRepeat: engineResult(samples.repeat), stateful: engineResult(samples.stateful), stateless: engineResult(samples.stateless),
    ratioVsStateless: median(ratios), ratioVsStatelessRange: [Math.min(...ratios), Math.max(...ratios)],
    ratioVsStateful: median(samples.mandate.map((s, i) => rate(s) / rate(samples.stateful[i] as Sample))),
    ratioVsStatelessCpu: engineResult(samples.stateless).cpuUs / engineResult(samples.mandate).cpuUs,
    newSliceShare: timedCold ? newSlices / timedCold : 0,
    knownSliceP99Us: knownSliceLatencies.length ? percentile(knownSliceLatencies, 99) * 1000 : null,
    cpuIsThread: threadCpuMeasured,
  };
}

export async function policyBench(options: { sizes?: readonly number[]; cerbos?: boolean; progress?: (line: string) => void } = {}): Promise<PolicyBenchResult> {
  const started = performance.now();
  const fromEnv = process.env.MANDATE_BENCH_POLICY_SIZES?.split(',').map(Number).filter((n) => Number.isInteger(n) && n > 0);
  const sizes = options.sizes ?? (fromEnv?.length ? fromEnv : SIZES);
  const schemaText = benchSchema(readFileSync(new URL('../policies/schema.cedarschema', import.meta.url), 'utf8'));
  const results: SizeResult[] = [];
  let forCerbos: LoadedWorld | undefined;
  const elapsed = () => `${fmt((performance.now() - started) / 1000)} s`;
  for (const size of sizes) {
    options.progress?.(`  … ${fmt(size)} policies (${elapsed()})`);
    results.push(await sizeBench(size, schemaText, (loaded) => {
      if (size === TARGET_SIZE) forCerbos = loaded;
    }));
  }
  let cerbos: PolicyBenchResult['cerbos'] = null;
  if (options.cerbos !== false) {
    options.progress?.(`  … Cerbos (${elapsed()})`);
    forCerbos ??= load(TARGET_SIZE, schemaText, true).loaded;
    cerbos = await cerbosBench(forCerbos);
  }
  const atTarget = results.find((r) => r.policies === TARGET_SIZE);
  return {
    sizes: results,
    targets: atTarget ? { size: TARGET_SIZE, ratioVsStateless: atTarget.ratioVsStateless, ratioVsStatelessCpu: atTarget.ratioVsStatelessCpu, ratioTarget: TARGET_RATIO, p99Us: atTarget.mandate.p99Us, p99TargetUs: TARGET_P99_US } : null,
    cerbos,
    seconds: (performance.now() - started) / 1000,
  };
}

const us = (n: number): string => (n >= 10_000 ? fmt(n) : n >= 100 ? fmt(n) : fmt(n, 1));

export function printPolicy(r: PolicyBenchResult): void {
  console.log('Policy decisions: Mandate\'s decision point vs plain cedar-wasm, same generated sets and requests, same run');
  console.log('  tools/call requests as the gateway builds them (agent in teams, tool in server, mandate context), every one distinct;');
  console.log('  interleaved rounds; decisions/s = median of rounds, p50/p99 (wall clock) over every timed decision, CPU = this thread\'s CPU time per decision');
  console.log('  (mean; unlike the wall clock it leaves out time other processes took the core);');
  console.log('  ratio = median of per-round mandate/stateless decisions/s');
  for (const s of r.sizes) {
    const c = s.check;
    console.log('');
    console.log(`  ${fmt(s.policies)} policies — ${fmt(s.world.agents)} agents in ${fmt(s.world.teams)} teams, ${fmt(s.world.tools)} tools on ${fmt(s.world.servers)} servers; loaded in ${fmt(s.loadMs)} ms${s.validated ? ' (validated against the schema)' : ' (not validated: too slow at this size)'}; ${s.rounds} rounds`);
    console.log(`     agreement: ${c.requests} requests answered alike by the decision point and cedar (whole set; stateless too on ${c.statelessRequests}) — ${fmt((c.allow / c.requests) * 100)} % allow, ${fmt((c.denyByForbid / c.requests) * 100)} % forbidden, ${fmt((c.denyByDefault / c.requests) * 100)} % no permit; slices of ${fmt(c.meanSlice, 1)} policies on average, ${c.distinctSlices} distinct`);
    const row = (label: string, e: EngineResult, extra = '') => console.log(
      `     ${label.padEnd(40)} ${fmt(e.decisionsPerSecond).padStart(8)} /s   p50 ${us(e.p50Us).padStart(9)} µs   p99 ${us(e.p99Us).padStart(9)} µs   CPU ${us(e.cpuUs).padStart(9)} µs   n ${fmt(e.samples).padStart(6)}${extra}`,
    );
    row('Mandate decision point, cache-cold', s.mandate);
    row('Mandate decision point, 90 % repeats', s.mandateRepeat);
    row('cedar statefulIsAuthorized, whole set', s.stateful);
    row('cedar isAuthorized (stateless)', s.stateless, s.stateless.samples < 100 ? '   (capped by time per round)' : '');
    console.log(`     ${fmt(s.newSliceShare * 100, 1)} % of the cache-cold requests met a slice new to the decision point`
      + (s.knownSliceP99Us !== null && s.newSliceShare > 0 ? ` (p99 of the others ${us(s.knownSliceP99Us)} µs)` : ''));
    console.log(`     Mandate / stateless ${fmt(s.ratioVsStateless, 1)} × (rounds ${fmt(s.ratioVsStatelessRange[0], 1)}–${fmt(s.ratioVsStatelessRange[1], 1)}; by CPU time ${fmt(s.ratioVsStatelessCpu, 1)} ×)   Mandate / stateful ${fmt(s.ratioVsStateful, 1)} ×   repeats / cold ${fmt(s.mandateRepeat.decisionsPerSecond / s.mandate.decisionsPerSecond, 1)} ×`);
  }
  if (r.targets) {
    const t = r.targets;
    console.log('');
    console.log(`  at ${fmt(t.size)} policies, cache-cold: Mandate / stateless cedar ${fmt(t.ratioVsStateless, 1)} ×   (target ≥ ${t.ratioTarget} ×: ${t.ratioVsStateless >= t.ratioTarget ? 'met' : 'MISSED'}; by CPU time ${fmt(t.ratioVsStatelessCpu, 1)} ×)`);
    console.log(`  at ${fmt(t.size)} policies, cache-cold: p99 decision ${us(t.p99Us)} µs   (target ≤ ${t.p99TargetUs} µs: ${t.p99Us <= t.p99TargetUs ? 'met' : 'MISSED'})`);
  }
  if (r.cerbos) {
    console.log('');
    if ('skipped' in r.cerbos) console.log(`  Cerbos: skipped — ${r.cerbos.skipped}`);
    else printCerbos(r.cerbos);
  }
  console.log('');
  console.log(`  policy benchmark took ${fmt(r.seconds)} s`);
}
