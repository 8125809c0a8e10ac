// Revocation against a real Mandate process (`mandate serve`), with the real MCP SDK
// client through the gateway to server-everything (its own process, streamable HTTP):
//
//   revoke → first denied call
//     Each agent calls `echo` in a tight loop, one call in flight at a time, a fresh
//     DPoP proof per request. After a few allowed calls the bench sends
//     POST /api/v1/revocations at t0; its 200 arrives at t_ack. Measured per agent:
//     t1 − t0, where t1 is when the first call *sent at or after t0* is answered with
//     a denial (a 401 naming the revoked mandate, the call's JSON-RPC refusal, or its
//     session ended by the revocation). A call sent before t_ack may still be allowed
//     (the revocation was not acknowledged yet); every call sent after t_ack must be
//     denied, and the audit log must show no call allowed on a mandate after the event
//     recording its revocation — either failing fails the bench (exit code 1).
//       mandate   one agent on a mandate of its own (depth 0), that mandate revoked
//       chain     person → A → B → C → D by RFC 8693 sub-delegation; A (depth 0) and
//                 D (depth 3) call at once; the root mandate is revoked
//     Fresh mandates, tokens and MCP sessions each trial.
//
//   revoking a person with 10,000 descendant mandates
//     The person grants 100 root mandates through the API; one root is delegated
//     A → B → C → D through the token endpoint (D's task token is the leaf checked at
//     the gateway); the other 9,997 descendants are written through the store, with
//     the fields the token endpoint writes (parent, depth, chain, scope, expiry,
//     budget): 100 roots × 10 × 3 × 2 down to depth 3. Timed: POST /api/v1/revocations
//     {target: person} until its answer; then every mandate is checked revoked, the
//     leaf is refused at the gateway, and the revocation audit events are counted.
//     Fresh person and tree each time.
//
//   npm run bench -- revocation
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { createApp, type App } from '../src/app.ts';
import { clientAssertion, dpopProof, generateAgentKey, type AgentKey } from '../src/client/agent-key.ts';
import { connectToGateway } from '../src/client/mcp-client.ts';
import { exchangeForTaskToken } from '../src/client/task-token.ts';
import { loadConfig } from '../src/config.ts';
import { MANDATE_ID_PREFIX } from '../src/delegation/mandates.ts';
import { GRANT_TYPE_TOKEN_EXCHANGE, TOKEN_TYPE_ACCESS_TOKEN, TOKEN_TYPE_JWT } from '../src/delegation/token-exchange.ts';
import { GATEWAY_DENIED } from '../src/gateway/session.ts';
import { CLIENT_ASSERTION_TYPE } from '../src/identity/client-auth.ts';
import { ADMIN_TOKEN_FILE, init } from '../src/init.ts';
import { nowSeconds } from '../src/lib/clock.ts';
import { freePort } from '../src/lib/free-port.ts';
import { newId } from '../src/lib/ids.ts';
import { SQLITE_FILE } from '../src/store/open.ts';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.ts';
import type { Mandate } from '../src/store/types.ts';
import { cpuAvailable, cpuTicks, TICKS_PER_SECOND } from './proc.ts';
import { startMandate, startProcess } from './processes.ts';
import { fmt, median, percentile } from './stats.ts';

const require = createRequire(import.meta.url);
const EVERYTHING = require.resolve('@modelcontextprotocol/server-everything/dist/index.js');

/** Trials per scenario (MANDATE_BENCH_REVOCATION_TRIALS overrides). */
const TRIALS = Number(process.env.MANDATE_BENCH_REVOCATION_TRIALS ?? 200);
/** Fresh 10,000-mandate trees revoked (MANDATE_BENCH_REVOCATION_TREES overrides). */
const TREES = Number(process.env.MANDATE_BENCH_REVOCATION_TREES ?? 5);
/** Allowed calls each agent makes before the revocation is sent. */
const WARM_CALLS = 3;
/** Calls each agent sends after the revocation is acknowledged, every one of which must be denied. */
const CALLS_AFTER_ACK = 3;
const ROOTS = 100;
/** Children per mandate at depth 0, 1 and 2: 100 × 10 × 3 × 2 = 6,000 leaves, 10,000 descendants. */
const FAN_OUT = [10, 3, 2] as const;
const AGENTS_PER_LEVEL = 4;
const TREE_REASON = 'offboarding';
/** What a call on a revoked mandate (or below one) is told. */
const REVOKED_CODES = new Set(['mandate_revoked', 'parent_mandate_revoked', 'mandate_not_active', 'parent_mandate_not_active', 'session_ended_mandate_revoked', 'session_not_found']);

const P99_TARGET_MS = 50;
const TREE_TARGET_MS = 1000;

interface Enrolled { id: string; spiffeId: string; key: AgentKey }

interface World {
  dataDir: string;
  /** Part 1's agents, owned by alice: one alone, and the chain A → B → C → D. */
  solo: Enrolled;
  chain: [Enrolled, Enrolled, Enrolled, Enrolled];
  /** Part 2: per tree, its person and agents by level (level 0 holds the roots). */
  trees: Array<{ person: string; levels: Enrolled[][] }>;
}

async function enroll(app: App, name: string, owner: string, now: number): Promise<Enrolled> {
  const { agent, enrollmentToken } = await app.agents.add({ name, owner, purpose: 'revocation benchmark' }, now);
  const key = generateAgentKey();
  await app.agents.enroll(enrollmentToken, key.publicJwk, now);
  key.clientId = agent.spiffeId;
  return { id: agent.id, spiffeId: agent.spiffeId, key };
}

async function prepare(port: number, upstream: string): Promise<World> {
  const dataDir = await mkdtemp(join(tmpdir(), 'mandate-bench-revocation-'));
  const config = loadConfig({}, { dataDir, port, host: '127.0.0.1' });
  await init(config);
  const app = await createApp(config);
  const now = nowSeconds();
  await app.people.add({ id: 'alice' }, now);
  await app.catalog.add({ name: 'everything', upstream: { transport: 'http', url: upstream }, tools: [{ name: 'echo', sensitivity: 'public', effect: 'read', egress: 'internal' }] }, now);
  const solo = await enroll(app, 'solo', 'alice', now);
  const chain = await Promise.all(['a', 'b', 'c', 'd'].map((n) => enroll(app, `chain-${n}`, 'alice', now))) as World['chain'];
  const trees: World['trees'] = [];
  for (let t = 0; t < TREES; t++) {
    const person = `owner-${t}`;
    await app.people.add({ id: person }, now);
    const levels: Enrolled[][] = [];
    for (let level = 0; level <= FAN_OUT.length; level++) {
      levels.push(await Promise.all(Array.from({ length: AGENTS_PER_LEVEL }, (_, k) => enroll(app, `tree${t}-l${level}-${k}`, person, now))));
    }
    trees.push({ person, levels });
  }
  await app.close();
  return { dataDir, solo, chain, trees };
}

// ---- talking to the running Mandate ----

interface ControlPlane {
  url: string;
  adminToken: string;
  api: (method: string, path: string, token: string, body?: unknown) => Promise<{ status: number; body: Record<string, unknown> }>;
}

function control(url: string, adminToken: string): ControlPlane {
  return {
    url, adminToken,
    api: async (method, path, token, body) => {
      const response = await fetch(`${url}${path}`, {
        method, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: response.status, body: await response.json() as Record<string, unknown> };
    },
  };
}

async function personToken(m: ControlPlane, person: string): Promise<string> {
  const answer = await m.api('POST', `/api/v1/users/${person}/login`, m.adminToken);
  if (answer.status !== 200) throw new Error(`login as ${person}: HTTP ${answer.status} ${JSON.stringify(answer.body)}`);
  return String(answer.body.token);
}

async function grant(m: ControlPlane, token: string, agent: Enrolled, maxCalls?: number): Promise<{ id: string; mandateToken: string }> {
  const answer = await m.api('POST', '/api/v1/mandates', token, { agent: agent.id, purpose: 'revocation benchmark', allow: ['everything/echo'], ttl: 3600, ...(maxCalls ? { max_calls: maxCalls } : {}) });
  if (answer.status !== 201) throw new Error(`grant: HTTP ${answer.status} ${JSON.stringify(answer.body)}`);
  return { id: String((answer.body.mandate as { id: string }).id), mandateToken: String(answer.body.mandate_token) };
}

const resourceOf = (m: ControlPlane): string => `${m.url}/mcp/everything`;

async function taskToken(m: ControlPlane, agent: Enrolled, mandateToken: string): Promise<string> {
  return (await exchangeForTaskToken(`${m.url}/oauth/token`, mandateToken, agent.key, resourceOf(m))).accessToken;
}

/** `from` sub-delegates with its task token to `to` (RFC 8693, `to`'s assertion as actor_token); answers `to`'s mandate and task token. */
async function delegate(m: ControlPlane, from: Enrolled, fromTask: string, to: Enrolled): Promise<{ id: string; task: string }> {
  const tokenUrl = `${m.url}/oauth/token`;
  const response = await fetch(tokenUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', dpop: dpopProof(from.key, 'POST', tokenUrl) },
    body: new URLSearchParams({
      grant_type: GRANT_TYPE_TOKEN_EXCHANGE, subject_token: fromTask, subject_token_type: TOKEN_TYPE_ACCESS_TOKEN,
      actor_token: clientAssertion(to.key, tokenUrl), actor_token_type: TOKEN_TYPE_JWT,
      client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: clientAssertion(from.key, tokenUrl),
    }),
  });
  const body = await response.json() as { access_token?: string; mandate_id?: string };
  if (response.status !== 200 || !body.access_token) throw new Error(`delegation: HTTP ${response.status} ${JSON.stringify(body)}`);
  return { id: String(body.mandate_id), task: await taskToken(m, to, body.access_token) };
}

/** A chain person → A → B → C → D: every mandate id (root first) and every agent's task token. */
async function delegationChain(m: ControlPlane, token: string, agents: readonly Enrolled[], maxCalls?: number): Promise<{ ids: string[]; tasks: string[] }> {
  const [first, ...rest] = agents as [Enrolled, ...Enrolled[]];
  const root = await grant(m, token, first, maxCalls);
  const ids = [root.id];
  const tasks = [await taskToken(m, first, root.mandateToken)];
  let from = first;
  for (const to of rest) {
    const child = await delegate(m, from, tasks.at(-1) as string, to);
    ids.push(child.id);
    tasks.push(child.task);
    from = to;
  }
  return { ids, tasks };
}

// ---- one call, and what it was answered ----

type Outcome = { allowed: true } | { allowed: false; code: string };

/**
 * The refusal's code when `error` is the gateway refusing the call, null when it is
 * anything else: the request's 401 (the token no longer stands), the call's JSON-RPC
 * denial (its budget could not be counted), or — for a call in flight when the
 * revocation ended its session — the session's ending; a request that reaches a
 * session already ended is told the session is gone.
 */
function denialCode(error: unknown): string | null {
  if (error instanceof StreamableHTTPError && error.code === 401) return /"mandate_error":"([a-z_]+)"/.exec(error.message)?.[1] ?? 'unauthorized';
  if (error instanceof StreamableHTTPError && error.code === 404 && /session not found/i.test(error.message)) return 'session_not_found';
  if (error instanceof McpError && error.code === GATEWAY_DENIED) return String((error.data as { code?: unknown } | undefined)?.code ?? 'denied');
  const ended = error instanceof McpError ? /the session has ended: mandate \S+ was (revoked|completed)/.exec(error.message) : null;
  if (ended) return `session_ended_mandate_${ended[1]}`;
  return null;
}

async function callEcho(client: Client, message: string): Promise<Outcome> {
  let result;
  try {
    result = await client.callTool({ name: 'echo', arguments: { message } });
  } catch (error) {
    const code = denialCode(error);
    if (code === null) throw error;
    if (!REVOKED_CODES.has(code)) throw new Error(`a call was refused for another reason than the revocation: ${code}`, { cause: error });
    return { allowed: false, code };
  }
  const text = (result.content as Array<{ text?: string }> | undefined)?.[0]?.text;
  if (!result.isError && text === `Echo: ${message}`) return { allowed: true };
  throw new Error(`unexpected reply to echo: ${JSON.stringify(result).slice(0, 300)}`);
}

// ---- part 1: revoke → first denied call ----

interface Call { sent: number; answered: number; outcome: Outcome }

interface Deferred { promise: Promise<void>; resolve: () => void; reject: (error: unknown) => void }
function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Every client calls in a loop; once each has had WARM_CALLS allowed, `revoke` is sent
 * (at t0, acknowledged at `ack`); each loop ends when CALLS_AFTER_ACK of its calls were
 * sent after the acknowledgement.
 */
async function trial(clients: Client[], revoke: () => Promise<void>): Promise<{ t0: number; ack: number; calls: Call[][] }> {
  let ack = Infinity;
  const warmed = clients.map(() => deferred());
  const loops = clients.map(async (client, i) => {
    const calls: Call[] = [];
    const warm = warmed[i] as Deferred;
    try {
      const deadline = performance.now() + 20_000;
      for (let n = 0; ; n++) {
        const sent = performance.now();
        const outcome = await callEcho(client, `call ${n}`);
        const answered = performance.now();
        calls.push({ sent, answered, outcome });
        if (n + 1 === WARM_CALLS) warm.resolve();
        if (calls.filter((c) => c.sent > ack).length >= CALLS_AFTER_ACK) return calls;
        if (answered > deadline) throw new Error('a trial ran for 20 s without its revocation taking effect');
      }
    } catch (error) {
      warm.reject(error);
      throw error;
    }
  });
  // Held from the start, so that a loop failing while the revocation is in flight is this trial's error, not an unhandled rejection.
  const finished = Promise.all(loops);
  finished.catch(() => undefined);
  await Promise.all(warmed.map((w) => w.promise));
  await sleep(Math.random() * 3); // the revocation lands anywhere within a call
  const t0 = performance.now();
  await revoke();
  ack = performance.now();
  return { t0, ack, calls: await finished };
}

export interface LatencySummary { p50Ms: number; p95Ms: number; p99Ms: number; maxMs: number }
const summarise = (ms: number[]): LatencySummary => ({ p50Ms: percentile(ms, 50), p95Ms: percentile(ms, 95), p99Ms: percentile(ms, 99), maxMs: Math.max(...ms) });

export interface AgentFigures {
  label: string;
  depth: number;
  /** t1 − t0 over the trials. */
  firstDenied: LatencySummary;
  /** When that call was sent (after t0), and how long it took to be answered. */
  deniedSentAfterT0: LatencySummary;
  deniedRoundTrip: LatencySummary;
  /** Round trip of the allowed calls before t0, for comparison. */
  allowedRoundTripP50Ms: number;
  /** Calls sent after the revocation was acknowledged that were allowed: must be 0. */
  allowedAfterAck: number;
  callsAfterAck: number;
  /** Calls sent between t0 and the acknowledgement that were still allowed (the revocation had not committed). */
  allowedBeforeAck: number;
  /** Calls in flight at t0 (sent before, answered after), and how many of them were denied. */
  inFlightAtT0: number;
  inFlightDenied: number;
  inFlightCodes: Record<string, number>;
  /** The refusals' codes, with how often each was the first denial. */
  codes: Record<string, number>;
}

export interface ScenarioFigures {
  name: string;
  trials: number;
  /** POST /api/v1/revocations until its 200. */
  revokeRequest: LatencySummary;
  agents: AgentFigures[];
  /** From the audit log: tools/call decisions that allowed a call, and those after the call's mandate's revocation event (must be 0). */
  audit: { allowDecisions: number; revocationEvents: number; allowedAfterRevocation: number };
}

function analyse(label: string, depth: number, runs: Array<{ t0: number; ack: number; calls: Call[] }>): AgentFigures {
  const latencies: number[] = [];
  const sentAfter: number[] = [];
  const roundTrips: number[] = [];
  const allowedRoundTrips: number[] = [];
  const none = summarise([Number.NaN]);
  const figures: AgentFigures = { label, depth, firstDenied: none, deniedSentAfterT0: none, deniedRoundTrip: none, allowedRoundTripP50Ms: Number.NaN, allowedAfterAck: 0, callsAfterAck: 0, allowedBeforeAck: 0, inFlightAtT0: 0, inFlightDenied: 0, inFlightCodes: {}, codes: {} };
  for (const { t0, ack, calls } of runs) {
    const early = calls.find((c) => c.answered < t0 && !c.outcome.allowed);
    if (early) throw new Error(`${label}: a call answered before the revocation was sent was denied (${JSON.stringify(early.outcome)})`);
    for (const c of calls) {
      if (c.answered < t0) allowedRoundTrips.push(c.answered - c.sent);
      if (c.sent > ack) {
        figures.callsAfterAck++;
        if (c.outcome.allowed) figures.allowedAfterAck++;
      } else if (c.sent >= t0 && c.outcome.allowed) {
        figures.allowedBeforeAck++;
      } else if (c.sent < t0 && c.answered >= t0) {
        figures.inFlightAtT0++;
        if (!c.outcome.allowed) {
          figures.inFlightDenied++;
          figures.inFlightCodes[c.outcome.code] = (figures.inFlightCodes[c.outcome.code] ?? 0) + 1;
        }
      }
    }
    const first = calls.find((c) => c.sent >= t0 && !c.outcome.allowed);
    if (!first || first.outcome.allowed) continue; // none denied: the calls after the acknowledgement were allowed, counted above
    latencies.push(first.answered - t0);
    sentAfter.push(first.sent - t0);
    roundTrips.push(first.answered - first.sent);
    figures.codes[first.outcome.code] = (figures.codes[first.outcome.code] ?? 0) + 1;
  }
  if (latencies.length > 0) Object.assign(figures, { firstDenied: summarise(latencies), deniedSentAfterT0: summarise(sentAfter), deniedRoundTrip: summarise(roundTrips) });
  if (allowedRoundTrips.length > 0) figures.allowedRoundTripP50Ms = percentile(allowedRoundTrips, 50);
  return figures;
}

async function connect(m: ControlPlane, agent: Enrolled, task: string): Promise<Client> {
  return connectToGateway(resourceOf(m), task, agent.key, 'revocation-bench');
}

async function revokeBy(m: ControlPlane, token: string, target: string, expected: string[]): Promise<void> {
  const answer = await m.api('POST', '/api/v1/revocations', token, { target, reason: 'benchmark' });
  if (answer.status !== 200) throw new Error(`revocation of ${target}: HTTP ${answer.status} ${JSON.stringify(answer.body)}`);
  const revoked = answer.body.revoked as string[];
  if (revoked.length !== expected.length || expected.some((id) => !revoked.includes(id))) throw new Error(`revoking ${target} ended ${JSON.stringify(revoked)}, not ${JSON.stringify(expected)}`);
}

async function scenario(m: ControlPlane, name: string, labels: Array<{ label: string; depth: number }>, setUp: () => Promise<{ clients: Client[]; revoke: () => Promise<void> }>): Promise<ScenarioFigures> {
  const runs: Array<{ t0: number; ack: number; calls: Call[][] }> = [];
  const fromSeq = await auditSeq(m);
  for (let t = 0; t < TRIALS + 5; t++) {
    const { clients, revoke } = await setUp();
    try {
      const run = await trial(clients, revoke);
      if (t >= 5) runs.push(run); // the first few warm up the JIT and the connections
    } finally {
      await Promise.allSettled(clients.map((c) => c.close()));
    }
  }
  return {
    name, trials: runs.length, revokeRequest: summarise(runs.map((r) => r.ack - r.t0)),
    agents: labels.map(({ label, depth }, i) => analyse(label, depth, runs.map((r) => ({ t0: r.t0, ack: r.ack, calls: r.calls[i] as Call[] })))),
    audit: await allowedAfterRevocation(m, fromSeq),
  };
}

interface EventView { seq: number; kind: string; method: string | null; mandate: string | null; decision: string | null; mandates?: string[] | null }

async function* auditEvents(m: ControlPlane, afterSeq: number): AsyncGenerator<EventView> {
  for (let after = afterSeq; ;) {
    const page = (await m.api('GET', `/api/v1/audit/events?after=${after}&limit=1000`, m.adminToken)).body.events as EventView[];
    if (page.length === 0) return;
    yield* page;
    after = (page.at(-1) as EventView).seq;
  }
}

async function auditSeq(m: ControlPlane): Promise<number> {
  const events = (await m.api('GET', '/api/v1/audit/events?limit=1', m.adminToken)).body.events as EventView[];
  return events[0]?.seq ?? 0;
}

/**
 * The server's side of "nothing allowed after the revocation": in the audit log, the
 * tools/call decisions that allowed a call on a mandate after the event recording its
 * revocation. A call is counted against its mandate in the transaction that records
 * its decision, and counting needs the mandate active: there must be none.
 */
async function allowedAfterRevocation(m: ControlPlane, afterSeq: number): Promise<ScenarioFigures['audit']> {
  const revokedAt = new Map<string, number>();
  const figures = { allowDecisions: 0, revocationEvents: 0, allowedAfterRevocation: 0 };
  for await (const e of auditEvents(m, afterSeq)) {
    if (e.kind === 'revocation') {
      figures.revocationEvents++;
      for (const id of e.mandates ?? []) revokedAt.set(id, e.seq);
    } else if (e.kind === 'decision' && e.method === 'tools/call' && e.decision === 'allow') {
      figures.allowDecisions++;
      if (e.mandate !== null && revokedAt.has(e.mandate)) figures.allowedAfterRevocation++;
    }
  }
  return figures;
}

// ---- part 2: a person with 10,000 descendant mandates ----

export interface TreeFigures {
  trees: number;
  mandates: number;
  descendants: number;
  /** Of the descendants, how many were made through the token endpoint (the rest written through the store). */
  delegatedThroughApi: number;
  buildSeconds: number;
  /** POST /api/v1/revocations {target: person} until its answer, per tree. */
  revokeMs: number[];
  /** Mandate's CPU time for that request (from /proc, 10 ms ticks), per tree; null when unavailable. */
  serverCpuMs: Array<number | null>;
  /** From the answer to the leaf's refused call, per tree. */
  leafRefusedMs: number[];
  leafCodes: string[];
  revocationEvents: number[];
  idsInEvents: number[];
}

/** The tree below `roots`: each mandate's children down to depth 3, `real` ones used where they exist. Answers every id, roots included. */
async function growTree(store: SqliteStore, roots: Mandate[], levels: Enrolled[][], real: Map<string, Mandate>, now: number): Promise<{ ids: string[]; written: number }> {
  const ids: string[] = [];
  let written = 0;
  const spiffe = new Map(levels.flat().map((a) => [a.id, a.spiffeId]));
  const grow = async (parent: Mandate): Promise<void> => {
    ids.push(parent.id);
    const fan = FAN_OUT[parent.depth as 0 | 1 | 2];
    if (fan === undefined) return;
    for (let j = 0; j < fan; j++) {
      let child = j === 0 ? real.get(parent.id) : undefined;
      if (!child) {
        // As SubDelegation.delegate writes a child asking for nothing narrower.
        child = {
          id: newId(MANDATE_ID_PREFIX), grantor: parent.grantor, agentId: (levels[parent.depth + 1]?.[j % AGENTS_PER_LEVEL] as Enrolled).id, parentId: parent.id,
          depth: parent.depth + 1, chain: [spiffe.get(parent.agentId) as string, ...parent.chain], purpose: parent.purpose, scope: parent.scope,
          notBefore: now, expiresAt: parent.expiresAt, maxCalls: parent.maxCalls === null ? null : parent.maxCalls - parent.callsUsed, callsUsed: 0,
          state: 'active', reason: null, createdAt: now, endedAt: null, endedBy: null,
        };
        await store.createMandate(child);
        written++;
      }
      await grow(child);
    }
  };
  for (const root of roots) await grow(root);
  return { ids, written };
}

async function revocationEventsAfter(m: ControlPlane, seq: number): Promise<{ events: number; ids: number }> {
  let events = 0;
  let ids = 0;
  for await (const e of auditEvents(m, seq)) {
    if (e.kind !== 'revocation') continue;
    events++;
    ids += e.mandates?.length ?? 0;
  }
  return { events, ids };
}

async function treeBench(m: ControlPlane, world: World, mandatePid: number | null, progress?: (line: string) => void): Promise<TreeFigures> {
  const store = new SqliteStore(join(world.dataDir, SQLITE_FILE));
  const figures: TreeFigures = { trees: 0, mandates: 0, descendants: 0, delegatedThroughApi: 0, buildSeconds: 0, revokeMs: [], serverCpuMs: [], leafRefusedMs: [], leafCodes: [], revocationEvents: [], idsInEvents: [] };
  const buildTimes: number[] = [];
  try {
    for (const { person, levels } of world.trees) {
      const built = performance.now();
      const token = await personToken(m, person);
      // One root delegated A → B → C → D through the token endpoint; D is the leaf checked at the gateway.
      const chainAgents = levels.map((agents) => agents[0] as Enrolled);
      const chain = await delegationChain(m, token, chainAgents, 10_000);
      const rootIds = [chain.ids[0] as string];
      for (let i = 1; i < ROOTS; i++) rootIds.push((await grant(m, token, levels[0]?.[i % AGENTS_PER_LEVEL] as Enrolled, 10_000)).id);
      const byId = async (id: string) => (await store.getMandate(id)) as Mandate;
      const roots = await Promise.all(rootIds.map(byId));
      const chainMandates = await Promise.all(chain.ids.map(byId));
      const real = new Map(chainMandates.slice(1).map((child) => [child.parentId as string, child]));
      const tree = await growTree(store, roots, levels, real, nowSeconds());
      buildTimes.push((performance.now() - built) / 1000);
      const descendants = tree.ids.length - ROOTS;
      figures.mandates = tree.ids.length;
      figures.descendants = descendants;
      figures.delegatedThroughApi = chain.ids.length - 1;

      const leaf = await connect(m, chainAgents.at(-1) as Enrolled, chain.tasks.at(-1) as string);
      try {
        const before = await callEcho(leaf, 'before');
        if (!before.allowed) throw new Error(`the leaf was refused before its person was revoked: ${before.code}`);
        const seq = await auditSeq(m);
        const cpuBefore = mandatePid === null ? null : cpuTicks(mandatePid);
        const t0 = performance.now();
        const answer = await m.api('POST', '/api/v1/revocations', m.adminToken, { target: person, reason: TREE_REASON });
        const t1 = performance.now();
        const cpu = mandatePid === null || cpuBefore === null ? null : ((cpuTicks(mandatePid) - cpuBefore) / TICKS_PER_SECOND) * 1000;
        if (answer.status !== 200 || answer.body.kind !== 'person') throw new Error(`revoking ${person}: HTTP ${answer.status} ${JSON.stringify(answer.body).slice(0, 300)}`);
        const after = await callEcho(leaf, 'after');
        const t2 = performance.now();
        if (after.allowed) throw new Error(`the leaf mandate ${chain.ids.at(-1)} was still allowed after ${person} was revoked`);

        const revoked = new Set(answer.body.revoked as string[]);
        const missing = tree.ids.filter((id) => !revoked.has(id));
        if (missing.length > 0 || revoked.size !== tree.ids.length) throw new Error(`revoking ${person} answered ${revoked.size} mandates; ${missing.length} of the tree's ${tree.ids.length} missing`);
        const stored = new Map((await store.listMandates({ grantor: person })).map((x) => [x.id, x]));
        const unrevoked = tree.ids.filter((id) => {
          const x = stored.get(id);
          return !x || x.state !== 'revoked' || x.reason !== TREE_REASON || x.endedAt === null || x.endedBy === null;
        });
        if (unrevoked.length > 0 || stored.size !== tree.ids.length) throw new Error(`${unrevoked.length} of ${person}'s ${tree.ids.length} mandates are not recorded as revoked`);
        const audit = await revocationEventsAfter(m, seq);
        if (audit.ids !== tree.ids.length) throw new Error(`the revocation events name ${audit.ids} mandates, not ${tree.ids.length}`);

        figures.revokeMs.push(t1 - t0);
        figures.serverCpuMs.push(cpu);
        figures.leafRefusedMs.push(t2 - t1);
        figures.leafCodes.push(after.code);
        figures.revocationEvents.push(audit.events);
        figures.idsInEvents.push(audit.ids);
        figures.trees++;
        progress?.(`revocation: tree ${figures.trees}/${world.trees.length}: ${fmt(tree.ids.length)} mandates revoked in ${fmt(t1 - t0, 1)} ms (built in ${fmt(buildTimes.at(-1) as number, 1)} s)`);
      } finally {
        await leaf.close();
      }
    }
  } finally {
    await store.close();
  }
  figures.buildSeconds = median(buildTimes);
  return figures;
}

// ---- the benchmark ----

export interface RevocationBenchResult {
  scenarios: ScenarioFigures[];
  tree: TreeFigures;
  /** Calls allowed although sent after their revocation was acknowledged, and calls the audit log shows allowed after their mandate's revocation event, over every scenario: must be 0. */
  violations: number;
  /** The machine's 1-minute load average when the benchmark began and ended, and its cores: others' work shows in the tails. */
  load: { start: number; end: number; cores: number };
}

export async function revocationBench({ progress }: { progress?: (line: string) => void } = {}): Promise<RevocationBenchResult> {
  const children: ChildProcess[] = [];
  let world: World | undefined;
  const loadAtStart = loadavg()[0] as number;
  try {
    const upstreamPort = await freePort();
    children.push(await startProcess([EVERYTHING, 'streamableHttp'], { PORT: String(upstreamPort) }, /listening/i, 'server-everything'));
    const port = await freePort();
    world = await prepare(port, `http://127.0.0.1:${upstreamPort}/mcp`);
    const mandate = await startMandate(world.dataDir, port);
    children.push(mandate);
    const m = control(`http://127.0.0.1:${port}`, (await readFile(join(world.dataDir, ADMIN_TOKEN_FILE), 'utf8')).trim());
    const alice = await personToken(m, 'alice');
    const w = world;

    const direct = await scenario(m, 'mandate', [{ label: 'mandate revoked, its agent (depth 0)', depth: 0 }], async () => {
      const granted = await grant(m, alice, w.solo);
      const client = await connect(m, w.solo, await taskToken(m, w.solo, granted.mandateToken));
      return { clients: [client], revoke: () => revokeBy(m, alice, granted.id, [granted.id]) };
    });
    progress?.(`revocation: mandate: ${direct.trials} trials, p99 ${fmt(direct.agents[0]?.firstDenied.p99Ms ?? 0, 1)} ms`);
    const chained = await scenario(m, 'chain', [{ label: 'root revoked, its agent A (depth 0)', depth: 0 }, { label: 'root revoked, the leaf D (depth 3)', depth: 3 }], async () => {
      const chain = await delegationChain(m, alice, w.chain);
      const clients = await Promise.all([connect(m, w.chain[0], chain.tasks[0] as string), connect(m, w.chain[3], chain.tasks[3] as string)]);
      return { clients, revoke: () => revokeBy(m, alice, chain.ids[0] as string, chain.ids) };
    });
    progress?.(`revocation: chain: ${chained.trials} trials, p99 ${fmt(chained.agents[1]?.firstDenied.p99Ms ?? 0, 1)} ms at depth 3`);
    const tree = await treeBench(m, w, cpuAvailable() ? mandate.pid ?? null : null, progress);
    const scenarios = [direct, chained];
    const violations = scenarios.flatMap((s) => s.agents).reduce((n, a) => n + a.allowedAfterAck, 0) + scenarios.reduce((n, s) => n + s.audit.allowedAfterRevocation, 0);
    return { scenarios, tree, violations, load: { start: loadAtStart, end: loadavg()[0] as number, cores: availableParallelism() } };
  } finally {
    for (const child of children) child.kill();
    if (world) await rm(world.dataDir, { recursive: true, force: true });
  }
}

const verdict = (met: boolean): string => (met ? 'met' : 'NOT MET');

export function printRevocation(r: RevocationBenchResult): void {
  console.log('Revocation: revoke → first denied call (MCP SDK client → Mandate gateway → server-everything echo over streamable HTTP)');
  console.log('  t0 = POST /api/v1/revocations sent; t1 = the first call sent at or after t0 answered with a denial; one call in flight per agent,');
  console.log(`  fresh mandates, tokens and sessions per trial; ${CALLS_AFTER_ACK} calls per agent sent after the revocation's 200, each of which must be denied`);
  console.log(`  machine load average ${fmt(r.load.start, 1)} at the start, ${fmt(r.load.end, 1)} at the end, on ${r.load.cores} cores`);
  console.log('');
  console.log(`  ${'t1 − t0'.padEnd(40)} ${'p50'.padStart(8)} ${'p95'.padStart(8)} ${'p99'.padStart(8)} ${'max'.padStart(8)}   trials`);
  const row = (label: string, s: LatencySummary, trials: number, extra = '') => console.log(
    `  ${label.padEnd(40)} ${fmt(s.p50Ms, 2).padStart(8)} ${fmt(s.p95Ms, 2).padStart(8)} ${fmt(s.p99Ms, 2).padStart(8)} ${fmt(s.maxMs, 2).padStart(8)}   ${trials}${extra}`,
  );
  for (const s of r.scenarios) {
    for (const a of s.agents) {
      row(a.label, a.firstDenied, s.trials);
      row('  that call sent at t0 +', a.deniedSentAfterT0, s.trials);
      row('  and answered in', a.deniedRoundTrip, s.trials, `   (an allowed call: p50 ${fmt(a.allowedRoundTripP50Ms, 2)} ms)`);
    }
  }
  for (const s of r.scenarios) row(`revoke request (${s.name}): POST → 200`, s.revokeRequest, s.trials);
  console.log('  (ms)');
  console.log('');
  for (const s of r.scenarios) {
    for (const a of s.agents) {
      const tally = (codes: Record<string, number>) => Object.entries(codes).map(([code, n]) => `${code} ×${n}`).join(', ') || 'none';
      console.log(`  ${a.label}: ${a.allowedAfterAck} of ${a.callsAfterAck} calls sent after the 200 allowed; ${a.allowedBeforeAck} sent between t0 and the 200 allowed;`);
      console.log(`    first denials: ${tally(a.codes)}; calls in flight at t0: ${a.inFlightAtT0}, denied ${a.inFlightDenied} (${tally(a.inFlightCodes)})`);
    }
  }
  const worstP99 = Math.max(...r.scenarios.flatMap((s) => s.agents.map((a) => a.firstDenied.p99Ms)));
  console.log(`  revoke → first denied call p99 (worst agent)  ${fmt(worstP99, 2)} ms   (target ≤ ${P99_TARGET_MS} ms on one node: ${verdict(worstP99 <= P99_TARGET_MS)})`);
  const afterAck = r.scenarios.flatMap((s) => s.agents).reduce((n, a) => n + a.allowedAfterAck, 0);
  const sentAfterAck = r.scenarios.flatMap((s) => s.agents).reduce((n, a) => n + a.callsAfterAck, 0);
  console.log(`  calls sent after the revocation's 200 and allowed     ${afterAck} of ${sentAfterAck}   (must be 0: ${afterAck === 0 ? 'met' : 'VIOLATED'})`);
  const audit = r.scenarios.reduce((n, s) => n + s.audit.allowedAfterRevocation, 0);
  const allows = r.scenarios.reduce((n, s) => n + s.audit.allowDecisions, 0);
  console.log(`  audit log: allow decisions after the mandate's revocation event  ${audit} of ${fmt(allows)} allow decisions   (must be 0: ${audit === 0 ? 'met' : 'VIOLATED'})`);
  console.log('');
  const t = r.tree;
  console.log(`Revocation: a person with ${fmt(t.descendants)} descendant mandates (${fmt(t.mandates)} in all: ${ROOTS} roots × ${FAN_OUT.join(' × ')}, depth ≤ ${FAN_OUT.length})`);
  console.log(`  roots granted through POST /api/v1/mandates; ${t.delegatedThroughApi} descendants delegated through /oauth/token (the leaf checked below); the other ${fmt(t.descendants - t.delegatedThroughApi)}`);
  console.log('  written through the store with the fields the token endpoint writes (parent, depth, chain, scope, expiry, budget); tree built in a median');
  console.log(`  ${fmt(t.buildSeconds, 1)} s; ${t.trees} fresh trees, each revoked by the admin with POST /api/v1/revocations {target: <person>}`);
  console.log('');
  const cpu = t.serverCpuMs.filter((x): x is number => x !== null);
  console.log(`  revoke request, until its answer    median ${fmt(median(t.revokeMs), 1).padStart(7)} ms   max ${fmt(Math.max(...t.revokeMs), 1).padStart(7)} ms   (target ≤ ${fmt(TREE_TARGET_MS)} ms: ${verdict(Math.max(...t.revokeMs) <= TREE_TARGET_MS)})`);
  if (cpu.length > 0) console.log(`  Mandate's CPU for it                median ${fmt(median(cpu), 0).padStart(7)} ms   max ${fmt(Math.max(...cpu), 0).padStart(7)} ms   (/proc, 10 ms ticks)`);
  console.log(`  leaf (depth 3) refused after it     median ${fmt(median(t.leafRefusedMs), 1).padStart(7)} ms   max ${fmt(Math.max(...t.leafRefusedMs), 1).padStart(7)} ms   (${[...new Set(t.leafCodes)].join(', ')})`);
  console.log(`  every mandate revoked in the store, each tree; revocation audit events per tree: ${[...new Set(t.revocationEvents)].join(', ')} naming ${[...new Set(t.idsInEvents)].map((n) => fmt(n)).join(', ')} mandates`);
}
