import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { entryLeafHash } from '../../audit/entry.ts';
import { merkleTreeHash } from '../../audit/merkle/index.ts';
import { MandateError } from '../../errors.ts';
import { agent, approval, mandate, person, storeContract } from '../store-contract.ts';
import { MIGRATIONS } from './migrations.ts';
import { ACTIVE_TREE_SQL } from './mandate-tables.ts';
import { SqliteStore } from './sqlite-store.ts';

const NOW = 1_800_000_000;

async function tempFile(): Promise<{ path: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'mandate-sqlite-'));
  return { path: join(dir, 'mandate.db'), cleanup: () => rm(dir, { recursive: true, force: true }) };
}

storeContract('SQLite', async () => {
  const { path, cleanup } = await tempFile();
  return { store: new SqliteStore(path), cleanup };
});

/**
 * A worker that opens its own connection to the same file, waits at a shared gate so
 * all workers start together, then tries `attempt` (an expression over `store`, `item`
 * and `workerData`, answering the outcome) for every item of `workerData[items]` in turn.
 */
const raceWorker = (items: string, attempt: string): string => `
const { workerData, parentPort } = require('node:worker_threads');
(async () => {
  const { SqliteStore } = await import(workerData.module);
  const store = new SqliteStore(workerData.path);
  const gate = new Int32Array(workerData.gate);
  Atomics.add(gate, 1, 1);
  Atomics.wait(gate, 0, 0);
  const outcomes = [];
  for (const item of workerData.${items}) {
    try {
      outcomes.push(await (async () => ${attempt})());
    } catch (error) {
      outcomes.push('error: ' + error.message);
    }
  }
  await store.close();
  parentPort.postMessage(outcomes);
})().catch((error) => parentPort.postMessage(['crashed: ' + error.message]));
`;

// Each worker tries every enrollment token in turn; or every single-use approval.
const ENROLL_WORKER = raceWorker('hashes', `((result) => result.ok ? 'ok' : result.reason)(await store.enrollAgent(item, { kty: 'EC', kid: 'worker-' + workerData.index }, workerData.now))`);
const CONSUME_WORKER = raceWorker('digests', `(await store.consumeApproval(item, workerData.now)) ? 'used' : 'refused'`);

/** Runs `source` in four workers on their own connections to `path`, released together; answers each worker's outcomes. */
async function raceWorkers(source: string, data: Record<string, unknown>): Promise<string[][]> {
  const gate = new Int32Array(new SharedArrayBuffer(8));
  const module = new URL('./sqlite-store.ts', import.meta.url).href;
  const workers = [0, 1, 2, 3].map((index) => new Worker(source, { eval: true, workerData: { module, gate: gate.buffer, index, ...data } }));
  let settled = 0;
  const outcomes = workers.map((worker) => new Promise<string[]>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  }).finally(() => { settled += 1; }));
  while (Atomics.load(gate, 1) < workers.length && settled === 0) await new Promise((resolve) => setTimeout(resolve, 5));
  Atomics.store(gate, 0, 1);
  Atomics.notify(gate, 0);
  return Promise.all(outcomes);
}

describe('SQLite store', () => {
  it('runs in WAL mode, recorded in the database file', async () => {
    const { path, cleanup } = await tempFile();
    const store = new SqliteStore(path);
    await store.close();
    const db = new DatabaseSync(path);
    assert.equal((db.prepare('PRAGMA journal_mode').get() as { journal_mode: string }).journal_mode, 'wal');
    db.close();
    await cleanup();
  });

  it('never answers from memory after another connection changed the state', async () => {
    const { path, cleanup } = await tempFile();
    const gateway = new SqliteStore(path);
    const admin = new SqliteStore(path);
    await admin.createPerson(person('alice'));
    const bot = agent('bot', 'alice');
    await admin.createAgent(bot, { tokenHash: 'hash-bot', agentId: bot.id, expiresAt: NOW + 900 });
    await admin.createMandate(mandate('mnd_1', bot.id, 'alice'));
    // The gateway's connection reads (and remembers) the state...
    assert.equal((await gateway.getMandate('mnd_1'))?.state, 'active');
    assert.equal((await gateway.getAgent(bot.id))?.status, 'active');
    assert.equal(await gateway.isTokenIdRevoked('jti-1', NOW), false);
    // ...another connection revokes, suspends and revokes a token...
    await admin.endMandate('mnd_1', 'revoked', 'stop', NOW);
    await admin.setAgentStatus(bot.id, 'suspended');
    await admin.revokeTokenId('jti-1', NOW + 60);
    // ...and the next request (a later turn of the event loop) sees it.
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal((await gateway.getMandate('mnd_1'))?.state, 'revoked');
    assert.equal((await gateway.getAgent(bot.id))?.status, 'suspended');
    assert.equal(await gateway.isTokenIdRevoked('jti-1', NOW), true);
    await gateway.close();
    await admin.close();
    await cleanup();
  });

  it('keeps one audit tree when two connections append in turn', async () => {
    const { path, cleanup } = await tempFile();
    const [a, b] = [new SqliteStore(path), new SqliteStore(path)];
    const event = (i: number) => ({
      kind: 'decision' as const, time: NOW * 1000 + i, server: 'fs', person: null, agents: [], mandate: null, purpose: null, method: null, tool: null,
      argumentsDigest: null, decision: null, reason: null, policies: [], policySetHash: null, outcome: null, latencyMs: null,
    });
    await a.appendAuditEvents([event(1)]);
    await b.appendAuditEvents([event(2)]);
    await a.appendAuditEvents([event(3), event(4)]);
    await b.appendAuditEvents([event(5)]);
    const chain = await a.listAuditEvents({ limit: 10 });
    assert.deepEqual(chain.map((e) => [e.seq, e.time - NOW * 1000]), [[1, 1], [2, 2], [3, 3], [4, 4], [5, 5]]);
    const entries = await b.readAuditEntries(0, 5);
    assert.deepEqual(chain.map((e) => e.hash), entries.map((e) => entryLeafHash(e).toString('hex')));
    assert.deepEqual((await b.auditTreeHead()).rootHash, merkleTreeHash(entries.map((e) => entryLeafHash(e))), 'one tree over both connections\' events');
    await a.close();
    await b.close();
    await cleanup();
  });

  it('brings events written before the ledger existed into it, and refuses a tree state that disagrees with the events', async () => {
    const { path, cleanup } = await tempFile();
    const event = (i: number) => ({
      kind: 'decision' as const, time: NOW * 1000 + i, server: 'fs', person: null, agents: [], mandate: null, purpose: null, method: null, tool: null,
      argumentsDigest: `sha256:${i}`, decision: null, reason: null, policies: [], policySetHash: null, outcome: null, latencyMs: null,
    });
    const first = new SqliteStore(path);
    await first.appendAuditEvents([1, 2, 3].map(event));
    await first.close();
    // As version 5 left them: the event without its seq, a chain hash, no tree.
    const db = new DatabaseSync(path);
    for (const i of [1, 2, 3]) db.prepare('UPDATE audit_events SET event = ?, hash = ? WHERE seq = ?').run(JSON.stringify(event(i)), 'f'.repeat(64), i);
    db.exec('DELETE FROM audit_tree; DELETE FROM audit_hashes;');
    db.close();
    const reopened = new SqliteStore(path);
    const entries = await reopened.readAuditEntries(0, 3);
    assert.deepEqual(entries.map((e) => (JSON.parse(e) as { seq: number }).seq), [1, 2, 3]);
    assert.deepEqual((await reopened.listAuditEvents({ limit: 10 })).map((e) => e.hash), entries.map((e) => entryLeafHash(e).toString('hex')));
    await reopened.appendAuditEvents([event(4)]);
    const head = await reopened.auditTreeHead();
    assert.equal(head.size, 4);
    assert.deepEqual(Buffer.from(head.rootHash), Buffer.from(merkleTreeHash((await reopened.readAuditEntries(0, 4)).map((e) => entryLeafHash(e)))));
    await reopened.close();
    // An event removed behind the store's back: appends fail closed rather than grow a tree that no longer matches.
    const cut = new DatabaseSync(path);
    cut.exec('DELETE FROM audit_events WHERE seq = 4');
    cut.close();
    const damaged = new SqliteStore(path);
    await assert.rejects(damaged.appendAuditEvents([event(5)]), /the audit tree covers 4 events, the log holds 3/);
    await damaged.close();
    await cleanup();
  });

  it('keeps data across close and reopen', async () => {
    const { path, cleanup } = await tempFile();
    const first = new SqliteStore(path);
    await first.createPerson(person('alice'));
    const bot = agent('bot', 'alice');
    await first.createAgent(bot, { tokenHash: 'hash-bot', agentId: bot.id, expiresAt: NOW + 900 });
    await first.close();
    const second = new SqliteStore(path);
    assert.deepEqual(await second.getPerson('alice'), person('alice'));
    assert.deepEqual(await second.getAgent(bot.id), bot);
    const enrolled = await second.enrollAgent('hash-bot', { kty: 'EC', crv: 'P-256', x: 'x', y: 'y' }, NOW);
    assert.equal(enrolled.ok, true, 'the enrollment grant survived the reopen too');
    await second.close();
    await cleanup();
  });

  it('records each migration once and does not re-apply it on reopen', async () => {
    const { path, cleanup } = await tempFile();
    const latest = MIGRATIONS.at(-1)?.version;
    const first = new SqliteStore(path);
    assert.equal(first.schemaVersion, latest);
    await first.close();
    const readMigrations = (): Array<{ version: number; name: string; applied_at: number }> => {
      const db = new DatabaseSync(path);
      const rows = db.prepare('SELECT version, name, applied_at FROM schema_migrations ORDER BY version').all() as Array<{ version: number; name: string; applied_at: number }>;
      db.close();
      return rows.map((r) => ({ ...r }));
    };
    const recorded = readMigrations();
    assert.deepEqual(recorded.map((r) => [r.version, r.name]), MIGRATIONS.map((m) => [m.version, m.name]));

    const second = new SqliteStore(path);
    assert.equal(second.schemaVersion, latest);
    await second.close();
    assert.deepEqual(readMigrations(), recorded, 'reopening leaves the migration record exactly as it was');
    await cleanup();
  });

  it('upgrades a database from the first schema version, keeping its data', async () => {
    const { path, cleanup } = await tempFile();
    const [v1] = MIGRATIONS;
    assert.ok(v1);
    const db = new DatabaseSync(path);
    db.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
    db.exec(v1.sql);
    db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(v1.version, v1.name, NOW);
    db.prepare("INSERT INTO people (id, email, name, status, issuer, subject, created_at) VALUES ('alice', NULL, 'Alice', 'active', NULL, NULL, ?)").run(NOW);
    db.close();

    const store = new SqliteStore(path);
    assert.equal(store.schemaVersion, MIGRATIONS.at(-1)?.version);
    assert.equal((await store.getPerson('alice'))?.name, 'Alice');
    await store.close();
    const check = new DatabaseSync(path);
    const rows = check.prepare('SELECT version, applied_at FROM schema_migrations ORDER BY version').all() as Array<{ version: number; applied_at: number }>;
    check.close();
    assert.deepEqual(rows.map((r) => r.version), MIGRATIONS.map((m) => m.version));
    assert.equal(rows[0]?.applied_at, NOW, 'the first migration was not applied again');
    await cleanup();
  });

  it('leaves no partial agent behind when its enrollment cannot be stored', async () => {
    const { path, cleanup } = await tempFile();
    const store = new SqliteStore(path);
    await store.createPerson(person('alice'));
    const first = agent('one', 'alice');
    await store.createAgent(first, { tokenHash: 'same-hash', agentId: first.id, expiresAt: NOW + 900 });
    const second = agent('two', 'alice');
    await assert.rejects(store.createAgent(second, { tokenHash: 'same-hash', agentId: second.id, expiresAt: NOW + 900 }), MandateError);
    assert.equal(await store.getAgent(second.id), null);
    assert.equal(await store.getAgentBySpiffeId(second.spiffeId), null);
    assert.deepEqual((await store.listAgents()).map((a) => a.name), ['one']);
    const enrolled = await store.enrollAgent('same-hash', { kty: 'EC', crv: 'P-256', x: 'x', y: 'y' }, NOW);
    assert.ok(enrolled.ok && enrolled.agent.id === first.id, 'the token still belongs to the first agent');
    await store.close();
    await cleanup();
  });

  it('leaves no partial server behind when one of its tools cannot be stored', async () => {
    const { path, cleanup } = await tempFile();
    const store = new SqliteStore(path);
    const tool = { server: 'fs', name: 'read_file', sensitivity: 'internal' as const, effect: 'read' as const, egress: 'internal' as const, labelled: true, firstSeen: NOW };
    await assert.rejects(store.createServer({ name: 'fs', upstream: { transport: 'http', url: 'https://mcp.example/mcp' }, environment: null, createdAt: NOW }, [tool, tool]));
    assert.equal(await store.getServer('fs'), null);
    assert.deepEqual(await store.listTools('fs'), []);
    await store.close();
    await cleanup();
  });

  it('ends a mandate by reading its own delegation tree, not every active mandate in the store', async () => {
    const { path, cleanup } = await tempFile();
    const store = new SqliteStore(path);
    await store.createPerson(person('alice'));
    const bot = agent('bot', 'alice');
    await store.createAgent(bot, { tokenHash: 'hash-bot', agentId: bot.id, expiresAt: NOW + 900 });
    for (let i = 0; i < 500; i++) await store.createMandate(mandate(`mnd_other${i}`, bot.id, 'alice'));
    await store.createMandate(mandate('mnd_root', bot.id, 'alice'));
    await store.createMandate(mandate('mnd_child', bot.id, 'alice', { parentId: 'mnd_root', depth: 1 }));
    await store.createMandate(mandate('mnd_leaf', bot.id, 'alice', { parentId: 'mnd_child', depth: 2 }));
    // Mandates are looked up by id from the tree, with or without the planner's statistics:
    // a scan of the active ones would make one revocation cost as much as there are mandates.
    const db = new DatabaseSync(path);
    for (const analysed of [false, true]) {
      if (analysed) db.exec('ANALYZE');
      const plan = db.prepare(`EXPLAIN QUERY PLAN ${ACTIVE_TREE_SQL}`).all('["mnd_root"]').map((row) => String(row.detail));
      assert.ok(!plan.some((step) => /^SCAN m\b/.test(step)), plan.join('\n'));
      assert.ok(plan.some((step) => /^SEARCH m USING .*\(id=\?\)/.test(step)), plan.join('\n'));
    }
    db.close();
    assert.deepEqual(await store.endMandates({ id: 'mnd_root' }, 'revoked', null, NOW + 1), ['mnd_root', 'mnd_child', 'mnd_leaf']);
    assert.equal((await store.listMandates({ state: 'active' })).length, 500);
    await store.close();
    await cleanup();
  });

  it('lets exactly one of several connections spend each enrollment token', async () => {
    const { path, cleanup } = await tempFile();
    const store = new SqliteStore(path);
    await store.createPerson(person('alice'));
    const hashes: string[] = [];
    for (let i = 0; i < 25; i++) {
      const a = agent(`bot-${i}`, 'alice');
      await store.createAgent(a, { tokenHash: `hash-${i}`, agentId: a.id, expiresAt: NOW + 900 });
      hashes.push(`hash-${i}`);
    }
    const perWorker = await raceWorkers(ENROLL_WORKER, { path, hashes, now: NOW });

    hashes.forEach((_hash, i) => {
      const forToken = perWorker.map((list) => list[i]).sort();
      assert.deepEqual(forToken, ['ok', 'used', 'used', 'used'], `token ${i}: ${forToken.join(', ')}`);
    });
    for (let i = 0; i < hashes.length; i++) assert.equal((await store.getAgent(`agt_bot-${i}`))?.keys.length, 1);
    await store.close();
    await cleanup();
  });

  it('lets exactly one of several connections use each single-use approval', async () => {
    const { path, cleanup } = await tempFile();
    const store = new SqliteStore(path);
    await store.createPerson(person('alice'));
    const bot = agent('bot', 'alice');
    await store.createAgent(bot, { tokenHash: 'hash-bot', agentId: bot.id, expiresAt: NOW + 900 });
    await store.createMandate(mandate('mnd_1', bot.id, 'alice'));
    const digests: string[] = [];
    for (let i = 0; i < 25; i++) {
      const a = approval(`apr_${i}`, 'mnd_1', `{"i":${i}}`);
      await store.createApproval(a);
      assert.ok((await store.decideApproval(a.id, 'approved', 'person bob', null, NOW, { usableUntil: NOW + 300, repeatUntil: null, maxUses: 1 })).ok);
      digests.push(a.digest);
    }
    const perWorker = await raceWorkers(CONSUME_WORKER, { path, digests, now: NOW + 1 });
    digests.forEach((_digest, i) => {
      const forApproval = perWorker.map((list) => list[i]).sort();
      assert.deepEqual(forApproval, ['refused', 'refused', 'refused', 'used'], `approval ${i}: ${forApproval.join(', ')}`);
    });
    for (let i = 0; i < digests.length; i++) assert.deepEqual(await store.getApproval(`apr_${i}`).then((a) => [a?.state, a?.uses]), ['used', 1]);
    await store.close();
    await cleanup();
  });
});
