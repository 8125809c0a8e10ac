// The audit ledger on its real store, side by side in one run:
//   appends   durable appends/s through the audit log (group commit, the Merkle tree's
//             hashes and right edge committed with each batch) against plain SQLite
//             inserts of the same events (JSON, same WAL settings, the same number of
//             rows per transaction as the log's group commit reached), in alternating
//             rounds; both acknowledge only after COMMIT. Also against inserts of the
//             ledger's exact rows made beforehand: the floor of any log
//   proofs    inclusion and consistency proofs generated from the SQLite store at
//             `--proof-entries` events (default 1,000,000): median, p99 and worst
//
//   npm run bench -- audit
import { mkdtemp, rm } from 'node:fs/promises';
import { DatabaseSync } from 'node:sqlite';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ledgerEntry, entryLeafHash } from '../src/audit/entry.ts';
import type { AuditEvent } from '../src/audit/event.ts';
import { AuditLog } from '../src/audit/log.ts';
import { ledgerHashes, proveConsistency } from '../src/audit/ledger-reader.ts';
import { inclusionProof, verifyConsistency, verifyInclusion } from '../src/audit/merkle/index.ts';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.ts';
import { fmt, median, percentile } from './stats.ts';

export interface AuditBenchResult {
  eventBytes: number;
  appenders: number;
  rounds: number;
  eventsPerRound: number;
  /** Durable appends per second through Mandate's audit log (median of rounds). */
  ledgerPerSecond: number;
  /** Plain SQLite inserts of the same rows per second, same batch size (median of rounds). */
  plainPerSecond: number;
  ratio: number;
  /** Inserts of the ledger's exact rows made beforehand (only the inserts timed): the floor of any log. */
  preparedPerSecond: number;
  /** Events per transaction the group commit reached (the plain inserts use the same). */
  batchSize: number;
  proofs: {
    entries: number;
    buildSeconds: number;
    inclusion: { count: number; hashes: number; medianMs: number; p99Ms: number; maxMs: number };
    consistency: { count: number; medianMs: number; p99Ms: number; maxMs: number };
  };
}

/** A decision as the gateway records it, with its Cedar request: about the size of a real one. */
export function decision(i: number): AuditEvent {
  const agent = { __entity: { type: 'Agent', id: 'agt_report-bot' } };
  return {
    kind: 'decision', time: 1_800_000_000_000 + i, server: 'fs', person: 'alice', agents: ['spiffe://mandate.local/agent/report-bot'], mandate: 'mnd_Qm1sYzA4bGJhc2U2NA',
    purpose: 'quarterly report', method: 'tools/call', tool: 'read_file', argumentsDigest: `sha256:${i.toString(16).padStart(64, '0')}`, decision: 'allow', reason: null,
    policies: ['mandate-names-tool'], policySetHash: 'sha256:88b321374f74cdbfe9c7b7e9c6c22a45ea09055d61eb9287b9d5c51fd442a151', outcome: null, latencyMs: null,
    request: {
      principal: { type: 'Agent', id: 'agt_report-bot' }, action: 'tools/call', resource: { type: 'Tool', id: 'fs/read_file' },
      context: { purpose: 'quarterly report', delegation: { depth: 0, chain: ['spiffe://mandate.local/agent/report-bot'] }, environment: 'dev', time: { now: 1_800_000_000 + i, weekday: 4, hour: 10, minute: 0 }, mandate: { calls_used: i, max_calls: 0 } },
      entities: [
        { uid: { type: 'Agent', id: 'agt_report-bot' }, attrs: { owner: { __entity: { type: 'Person', id: 'alice' } }, environment: 'dev', status: 'active', name: 'report-bot', purpose: 'reports', spiffe_id: 'spiffe://mandate.local/agent/report-bot' }, parents: [] },
        { uid: { type: 'Person', id: 'alice' }, attrs: { status: 'active' }, parents: [] },
        { uid: { type: 'Mandate', id: 'mnd_Qm1sYzA4bGJhc2U2NA' }, attrs: { agent, grantor: { __entity: { type: 'Person', id: 'alice' } }, purpose: 'quarterly report', scope: ['fs/read_file', 'fs/list_directory'], status: 'active', expires_at: 1_800_000_900 }, parents: [] },
        { uid: { type: 'Tool', id: 'fs/read_file' }, attrs: { name: 'read_file', sensitivity: 'internal', effect: 'read', egress: 'none', discovered_at: 1_799_999_000 }, parents: [{ type: 'Server', id: 'fs' }] },
        { uid: { type: 'Server', id: 'fs' }, attrs: { name: 'fs', environment: 'dev' }, parents: [] },
      ],
    },
  };
}

async function ledgerRound(store: SqliteStore, from: number, count: number, appenders: number): Promise<{ perSecond: number; batches: number }> {
  const log = new AuditLog(store);
  let batches = 0;
  log.onCommit(() => batches++);
  let next = from;
  const end = from + count;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: appenders }, async () => {
    while (next < end) await log.append(decision(next++));
  }));
  return { perSecond: count / ((performance.now() - t0) / 1000), batches };
}

/**
 * Plain SQLite inserts of the same events: each serialised (JSON.stringify, as any
 * audit table must) and inserted as (seq, time, kind, event), in transactions of the
 * size the ledger's group commit reached. With `prepared`, the rows — the ledger's
 * exact entry text and leaf hash — are made before the clock starts and only the
 * inserts are timed: the floor of any log that writes these rows.
 */
function plainRound(db: DatabaseSync, from: number, count: number, batch: number, prepared: boolean): number {
  const events = Array.from({ length: count }, (_, k) => decision(from + k));
  const rows = prepared ? events.map((event, k) => {
    const entry = ledgerEntry(from + k + 1, event);
    return { entry, hash: entryLeafHash(entry).toString('hex') };
  }) : [];
  const insert = db.prepare(prepared ? 'INSERT INTO prepared_events (seq, time, kind, event, hash) VALUES (?, ?, ?, ?, ?)' : 'INSERT INTO audit_events (seq, time, kind, event) VALUES (?, ?, ?, ?)');
  const begin = db.prepare('BEGIN IMMEDIATE');
  const commit = db.prepare('COMMIT');
  const t0 = performance.now();
  for (let at = 0; at < count; at += batch) {
    begin.run();
    for (let i = at; i < Math.min(at + batch, count); i++) {
      const event = events[i] as AuditEvent;
      if (prepared) {
        const row = rows[i] as (typeof rows)[number];
        insert.run(from + i + 1, event.time, event.kind, row.entry, row.hash);
      } else {
        insert.run(from + i + 1, event.time, event.kind, JSON.stringify(event));
      }
    }
    commit.run();
  }
  return count / ((performance.now() - t0) / 1000);
}

async function proofBench(dir: string, entries: number, progress?: (line: string) => void): Promise<AuditBenchResult['proofs']> {
  const store = new SqliteStore(join(dir, 'proofs.db'));
  const small = (i: number): AuditEvent => ({ ...decision(i), request: undefined });
  const t0 = performance.now();
  for (let at = 0; at < entries; at += 5000) {
    await store.appendAuditEvents(Array.from({ length: Math.min(5000, entries - at) }, (_, k) => small(at + k)));
    if (progress && at % 200_000 === 0 && at > 0) progress(`audit: ${fmt(at)} of ${fmt(entries)} events appended`);
  }
  const buildSeconds = (performance.now() - t0) / 1000;
  const head = await store.auditTreeHead();
  const reader = ledgerHashes(store);
  let seed = 7;
  const random = (): number => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  const inclusionMs: number[] = [];
  let hashes = 0;
  for (let p = 0; p < 300; p++) {
    const leafIndex = p === 0 ? 0 : p === 1 ? entries - 1 : Math.floor(random() * entries);
    const t = performance.now();
    const proof = await inclusionProof(reader, leafIndex, entries);
    const [leaf] = await store.readAuditHashes([{ level: 0, index: leafIndex }]);
    inclusionMs.push(performance.now() - t);
    verifyInclusion({ leafIndex, treeSize: entries, leafHash: leaf as Uint8Array, proof, rootHash: head.rootHash });
    hashes = Math.max(hashes, proof.length);
  }
  const consistencyMs: number[] = [];
  for (let p = 0; p < 100; p++) {
    const oldSize = 1 + Math.floor(random() * (entries - 1));
    const t = performance.now();
    const proof = await proveConsistency(store, oldSize, entries);
    consistencyMs.push(performance.now() - t);
    verifyConsistency({ oldSize, newSize: entries, proof: proof.proof, oldRoot: proof.oldRoot, newRoot: head.rootHash });
  }
  await store.close();
  const summary = (ms: number[]) => ({ count: ms.length, medianMs: median(ms), p99Ms: percentile(ms, 99), maxMs: Math.max(...ms) });
  return { entries, buildSeconds, inclusion: { ...summary(inclusionMs), hashes }, consistency: summary(consistencyMs) };
}

export async function auditBench({ rounds = 6, eventsPerRound = 20_000, appenders = 64, proofEntries = 1_000_000, progress }: {
  rounds?: number; eventsPerRound?: number; appenders?: number; proofEntries?: number; progress?: (line: string) => void;
} = {}): Promise<AuditBenchResult> {
  const dir = await mkdtemp(join(tmpdir(), 'mandate-bench-audit-'));
  try {
    const store = new SqliteStore(join(dir, 'ledger.db'));
    const plain = new DatabaseSync(join(dir, 'plain.db'));
    plain.exec(`PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
      CREATE TABLE audit_events (seq INTEGER PRIMARY KEY, time INTEGER NOT NULL, kind TEXT NOT NULL, event TEXT NOT NULL);
      CREATE TABLE prepared_events (seq INTEGER PRIMARY KEY, time INTEGER NOT NULL, kind TEXT NOT NULL, event TEXT NOT NULL, hash TEXT NOT NULL);`);
    // Warm both, then alternate rounds so neither gets the quieter moments.
    const warm = await ledgerRound(store, 0, 2000, appenders);
    let batchSize = Math.max(1, Math.round(2000 / warm.batches));
    plainRound(plain, 0, 2000, batchSize, false);
    plainRound(plain, 0, 2000, batchSize, true);
    const ledger: number[] = [];
    const bare: number[] = [];
    const floor: number[] = [];
    const sizes: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const from = 2000 + r * eventsPerRound;
      const round = await ledgerRound(store, from, eventsPerRound, appenders);
      ledger.push(round.perSecond);
      sizes.push(eventsPerRound / round.batches);
      batchSize = Math.max(1, Math.round(median(sizes)));
      bare.push(plainRound(plain, from, eventsPerRound, batchSize, false));
      floor.push(plainRound(plain, from, eventsPerRound, batchSize, true));
      progress?.(`audit: round ${r + 1}/${rounds}: ledger ${fmt(round.perSecond)}/s (batches of ${fmt(eventsPerRound / round.batches, 1)}), plain ${fmt(bare[bare.length - 1] as number)}/s, prepared rows ${fmt(floor[floor.length - 1] as number)}/s`);
    }
    await store.close();
    plain.close();
    const proofs = await proofBench(dir, proofEntries, progress);
    const ledgerPerSecond = median(ledger);
    const plainPerSecond = median(bare);
    return {
      eventBytes: Buffer.byteLength(ledgerEntry(1, decision(1))), appenders, rounds, eventsPerRound,
      ledgerPerSecond, plainPerSecond, ratio: ledgerPerSecond / plainPerSecond, preparedPerSecond: median(floor), batchSize, proofs,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export function printAudit(r: AuditBenchResult): void {
  console.log('Audit ledger (SQLite, WAL, synchronous=normal)');
  console.log(`  events of ${fmt(r.eventBytes)} bytes, ${r.appenders} concurrent appenders, ${r.rounds} alternating rounds of ${fmt(r.eventsPerRound)}`);
  console.log(`  durable appends (ledger)      ${fmt(r.ledgerPerSecond).padStart(9)}/s   group commit ≈ ${fmt(r.batchSize)} events per transaction`);
  console.log(`  plain SQLite inserts          ${fmt(r.plainPerSecond).padStart(9)}/s   the same events as JSON, same batch size`);
  console.log(`  ratio                         ${fmt(r.ratio, 2).padStart(9)}×   (target ≥ 0.5×)`);
  console.log(`  prepared-row inserts          ${fmt(r.preparedPerSecond).padStart(9)}/s   the ledger's rows made beforehand, only INSERTs timed (${fmt(r.ledgerPerSecond / r.preparedPerSecond, 2)}×)`);
  const p = r.proofs;
  console.log(`  proofs at ${fmt(p.entries)} events (store built in ${fmt(p.buildSeconds, 1)} s):`);
  console.log(`    inclusion   (${p.inclusion.count}, ${p.inclusion.hashes} hashes)  median ${fmt(p.inclusion.medianMs, 2)} ms  p99 ${fmt(p.inclusion.p99Ms, 2)} ms  max ${fmt(p.inclusion.maxMs, 2)} ms`);
  console.log(`    consistency (${p.consistency.count})              median ${fmt(p.consistency.medianMs, 2)} ms  p99 ${fmt(p.consistency.p99Ms, 2)} ms  max ${fmt(p.consistency.maxMs, 2)} ms`);
}
