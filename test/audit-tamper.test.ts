// A log changed behind Mandate's back fails `mandate audit verify`, which names the
// place: one byte of a stored event changed, an event deleted, two events reordered,
// the newest events cut off — in the store, and in an export file.
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { DatabaseSync } from 'node:sqlite';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadAuditKey } from '../src/audit/audit-key.ts';
import { Checkpointer } from '../src/audit/checkpointer.ts';
import { entryLeafHash } from '../src/audit/entry.ts';
import type { AuditEvent } from '../src/audit/event.ts';
import { fileLedgerSource, storeLedgerSource } from '../src/audit/ledger-export.ts';
import { verifyLedger, type VerifyReport } from '../src/audit/verify.ts';
import { loadConfig } from '../src/config.ts';
import { init } from '../src/init.ts';
import { SQLITE_FILE } from '../src/store/open.ts';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.ts';
import { runMandate, type CliRun } from './fixtures/cli.ts';

const EVENTS = 600;

let pristine: string;
let key: string;

const event = (i: number): AuditEvent => ({
  kind: i % 3 === 0 ? 'result' : 'decision', time: 1_800_000_000_000 + i, server: 'fs', person: 'alice', agents: ['spiffe://mandate.test/agent/bot'],
  mandate: 'mnd_1', purpose: 'quarterly report', method: 'tools/call', tool: 'read_file', argumentsDigest: `sha256:${String(i).padStart(64, '0')}`,
  decision: 'allow', reason: null, policies: ['mandate-names-tool'], policySetHash: 'sha256:x', outcome: i % 3 === 0 ? 'ok' : null, latencyMs: i % 3 === 0 ? 1.5 : null,
});

before(async () => {
  pristine = await mkdtemp(join(tmpdir(), 'mandate-tamper-'));
  await init(loadConfig({}, { dataDir: pristine, trustDomain: 'mandate.test' }));
  key = (await readFile(join(pristine, 'audit.vkey'), 'utf8')).trim();
  const store = new SqliteStore(join(pristine, SQLITE_FILE));
  const checkpoints = new Checkpointer(store, await loadAuditKey(pristine, { origin: null, trustDomain: 'mandate.test' }), { intervalMs: 60_000, entries: 1_000_000 });
  await checkpoints.start();
  // Checkpoints at 100, 200, …, 600.
  for (let n = 1; n <= EVENTS; n += 100) {
    await store.appendAuditEvents(Array.from({ length: 100 }, (_, i) => event(n + i)));
    await checkpoints.checkpoint();
  }
  await checkpoints.close();
  await store.close();
});
after(() => rm(pristine, { recursive: true, force: true }));

/** A copy of the pristine data directory, changed by `tamper` through SQL. */
async function tampered(tamper: (db: DatabaseSync) => void): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'mandate-tampered-'));
  for (const file of [SQLITE_FILE, 'audit.vkey', 'audit-ed25519.pem', 'admin.token']) await copyFile(join(pristine, file), join(dir, file));
  const db = new DatabaseSync(join(dir, SQLITE_FILE));
  tamper(db);
  db.close();
  return dir;
}

async function verifyDir(dir: string): Promise<VerifyReport> {
  const store = new SqliteStore(join(dir, SQLITE_FILE));
  try {
    return await verifyLedger(await storeLedgerSource(store, dir), key);
  } finally {
    await store.close();
  }
}

const entryOf = (db: DatabaseSync, seq: number): string => String((db.prepare('SELECT event FROM audit_events WHERE seq = ?').get(seq) as { event: string }).event);

function cli(dir: string, args: string[]): Promise<CliRun> {
  return runMandate(args, { ...process.env, MANDATE_DATA_DIR: dir, MANDATE_URL: 'http://127.0.0.1:9' });
}

describe('mandate audit verify on a tampered store', () => {
  it('passes the log as it was written', async () => {
    const report = await verifyDir(pristine);
    assert.deepEqual(report.problems, []);
    assert.equal(report.entries, EVENTS);
    assert.equal(report.verifiedSize, EVENTS);
    assert.equal(report.consistencyProofs, 5);
    const run = await cli(pristine, ['audit', 'verify']);
    assert.equal(run.code, 0, run.stderr);
  });

  it('passes a log that grows while it is verified, as it stood when verification began', async () => {
    const dir = await tampered(() => undefined);
    const store = new SqliteStore(join(dir, SQLITE_FILE));
    const checkpoints = new Checkpointer(store, await loadAuditKey(dir, { origin: null, trustDomain: 'mandate.test' }), { intervalMs: 60_000, entries: 1_000_000 });
    await checkpoints.start();
    const source = await storeLedgerSource(store, dir);
    let n = EVENTS;
    const growing = (async () => {
      for (let i = 0; i < 20; i++) {
        await store.appendAuditEvents(Array.from({ length: 50 }, () => event(++n)));
        await checkpoints.checkpoint();
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    const report = await verifyLedger(source, key);
    await growing;
    assert.deepEqual(report.problems, []);
    assert.equal(report.entries, EVENTS);
    assert.ok((await store.auditTreeHead()).size > EVENTS, 'the log grew meanwhile');
    await checkpoints.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('names the event one changed byte altered', async () => {
    const dir = await tampered((db) => {
      const entry = entryOf(db, 123);
      db.prepare('UPDATE audit_events SET event = ? WHERE seq = 123').run(entry.replace('quarterly', 'quarterlY'));
    });
    const run = await cli(dir, ['audit', 'verify']);
    assert.notEqual(run.code, 0);
    assert.match(run.stdout, /FAILED: event 123 was altered after it was appended/);
    assert.match(run.stderr, /event 123 was altered/);
    const report = await verifyDir(dir);
    assert.deepEqual(report.problems.map((p) => [p.code, p.seq ?? p.size]).slice(0, 2), [['event_altered', 123], ['checkpoint_mismatch', 200]]);
    await rm(dir, { recursive: true, force: true });
  });

  it('names the checkpoint range when the leaf hash was forged too', async () => {
    const dir = await tampered((db) => {
      const entry = entryOf(db, 123).replace('quarterly', 'quarterlY');
      db.prepare('UPDATE audit_events SET event = ?, hash = ? WHERE seq = 123').run(entry, entryLeafHash(entry).toString('hex'));
    });
    const report = await verifyDir(dir);
    assert.equal(report.ok, false);
    const [first, second] = report.problems;
    assert.equal(first?.code, 'checkpoint_mismatch');
    assert.match(first?.message ?? '', /the signed checkpoint of size 200 does not match events 1–200: the checkpoint of size 100 matched, so an event from 101 to 200 was altered/);
    assert.equal(second?.code, 'tree_hash_mismatch', 'and the server\'s stored tree hash over them no longer matches');
    assert.match(second?.message ?? '', /events 1–256/);
    await rm(dir, { recursive: true, force: true });
  });

  it('names a deleted event', async () => {
    const dir = await tampered((db) => db.prepare('DELETE FROM audit_events WHERE seq = 300').run());
    const run = await cli(dir, ['audit', 'verify', '--json']);
    assert.notEqual(run.code, 0);
    const report = JSON.parse(run.stdout) as VerifyReport;
    assert.equal(report.problems[0]?.code, 'event_missing');
    assert.equal(report.problems[0]?.seq, 300);
    assert.match(report.problems[0]?.message ?? '', /event 300 is missing: the log goes from event 299 to 301/);
    await rm(dir, { recursive: true, force: true });
  });

  it('names two events swapped', async () => {
    const dir = await tampered((db) => {
      const rows = db.prepare('SELECT seq, event, hash FROM audit_events WHERE seq IN (200, 201) ORDER BY seq').all() as { seq: number; event: string; hash: string }[];
      const [a, b] = rows as [typeof rows[0], typeof rows[0]];
      db.prepare('UPDATE audit_events SET event = ?, hash = ?, time = 0 WHERE seq = ?').run(b.event, b.hash, a.seq);
      db.prepare('UPDATE audit_events SET event = ?, hash = ?, time = 0 WHERE seq = ?').run(a.event, a.hash, b.seq);
    });
    const report = await verifyDir(dir);
    assert.deepEqual(report.problems.filter((p) => p.code === 'event_moved').map((p) => p.seq), [200, 201]);
    assert.equal(report.problems[0]?.code, 'event_moved');
    assert.match(report.problems[0]?.message ?? '', /the event filed as 200 says it is event 201/);
    await rm(dir, { recursive: true, force: true });
  });

  it('names newest events cut off after they were signed', async () => {
    const dir = await tampered((db) => db.prepare('DELETE FROM audit_events WHERE seq > 550').run());
    const report = await verifyDir(dir);
    assert.deepEqual(report.problems.map((p) => p.code), ['checkpoint_beyond_log', 'tree_state_mismatch']);
    assert.match(report.problems[0]?.message ?? '', /checkpoint of size 600 covers events 551–600, which the log no longer holds/);
    await rm(dir, { recursive: true, force: true });
  });
  it('names a removed tree state, and neither rebuilds the tree over the events nor appends to them', async () => {
    const dir = await tampered((db) => db.prepare('DELETE FROM audit_tree').run());
    const report = await verifyDir(dir);
    assert.deepEqual(report.problems.map((p) => p.code), ['tree_state_mismatch']);
    assert.match(report.problems[0]?.message ?? '', /the store holds 600 events but no tree state/);
    const store = new SqliteStore(join(dir, SQLITE_FILE));
    await assert.rejects(store.appendAuditEvents([event(601)]), /the audit tree covers 0 events, the log holds 600/);
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
});

describe('mandate audit verify on a tampered export file', () => {
  it('verifies the export as written, and names where a changed export goes wrong', async () => {
    const file = join(pristine, 'export.jsonl');
    const exported = await cli(pristine, ['audit', 'export', '--out', file]);
    assert.equal(exported.code, 0, exported.stderr);
    assert.equal((await verifyLedger(await fileLedgerSource(file), key)).ok, true);

    const lines = (await readFile(file, 'utf8')).split('\n');
    const changed = join(pristine, 'changed.jsonl');
    lines[451] = (lines[451] as string).replace('quarterly', 'quarterlY');
    await writeFile(changed, lines.join('\n'));
    const run = await cli(pristine, ['audit', 'verify', '--file', changed]);
    assert.notEqual(run.code, 0);
    assert.match(run.stdout, /FAILED: the signed checkpoint of size 500 does not match events 1–500: the checkpoint of size 400 matched, so an event from 401 to 500 was altered/);

    const reordered = join(pristine, 'reordered.jsonl');
    const swapped = (await readFile(file, 'utf8')).split('\n');
    [swapped[10], swapped[11]] = [swapped[11] as string, swapped[10] as string];
    await writeFile(reordered, swapped.join('\n'));
    const report = await verifyLedger(await fileLedgerSource(reordered), key);
    assert.deepEqual(report.problems.slice(0, 2).map((p) => [p.code, p.seq]), [['event_missing', 10], ['event_moved', 10]]);
    assert.match(report.problems[1]?.message ?? '', /event 10 comes after event 11: events were reordered/);
  });
});
