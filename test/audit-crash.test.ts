// The ledger survives kill -9: a process appending under load (group commit, the
// tree's hashes, checkpoints signed as it goes) is killed with SIGKILL again and
// again; after each restart every acknowledged event is in the log, and the whole log
// verifies against the key — every leaf, every checkpoint, consistency between them.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { storeLedgerSource } from '../src/audit/ledger-export.ts';
import { verifyLedger } from '../src/audit/verify.ts';
import { loadConfig } from '../src/config.ts';
import { init } from '../src/init.ts';
import { SQLITE_FILE } from '../src/store/open.ts';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.ts';

const APPENDER = new URL('./fixtures/audit-appender.ts', import.meta.url).pathname;
const FLAGS = process.features.typescript ? [] : ['--experimental-strip-types', '--disable-warning=ExperimentalWarning'];
const ROUNDS = 5;

/** Runs the appender until `ms` after it is ready, kills it with SIGKILL, and answers the ids it acknowledged. */
async function appendAndKill(dataDir: string, round: number, ms: number): Promise<string[]> {
  const child = spawn(process.execPath, [...FLAGS, APPENDER, dataDir, String(round)], { stdio: ['ignore', 'pipe', 'pipe'] });
  const acknowledged: string[] = [];
  let buffered = '';
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      buffered += d.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() as string;
      for (const line of lines) {
        if (line === 'ready') setTimeout(() => { child.kill('SIGKILL'); resolve(); }, ms);
        else acknowledged.push(line);
      }
    });
    child.once('exit', (code, signal) => signal === null && reject(new Error(`the appender exited with ${code}: ${stderr}`)));
  });
  await exited;
  return acknowledged; // a line cut short by the kill was never printed whole: not counted
}

describe('kill -9 under load', () => {
  it('keeps every acknowledged event, and the log verifies after each restart', { timeout: 120_000 }, async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'mandate-crash-'));
    try {
      await init(loadConfig({}, { dataDir, trustDomain: 'mandate.test' }));
      const key = (await readFile(join(dataDir, 'audit.vkey'), 'utf8')).trim();
      const all: string[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        const acknowledged = await appendAndKill(dataDir, round, 300 + round * 150);
        assert.ok(acknowledged.length > 50, `round ${round}: the load ran (${acknowledged.length} appends acknowledged)`);
        all.push(...acknowledged);
        const store = new SqliteStore(join(dataDir, SQLITE_FILE));
        try {
          const events = await store.listAuditEvents({ afterSeq: 0, limit: 10_000_000 });
          const recorded = new Set(events.map((e) => e.argumentsDigest));
          const lost = all.filter((id) => !recorded.has(id));
          assert.deepEqual(lost, [], `round ${round}: ${lost.length} of ${all.length} acknowledged events missing`);
          const report = await verifyLedger(await storeLedgerSource(store, 'the crashed store'), key);
          assert.deepEqual(report.problems, [], `round ${round}`);
          assert.ok(report.checkpoints > round, `round ${round}: checkpoints were signed under load (${report.checkpoints})`);
          assert.equal(report.entries, events.length);
          assert.ok(report.consistencyProofs >= report.checkpoints - 2, `round ${round}: successive checkpoints proved consistent (${report.consistencyProofs})`);
          process.stdout.write(`# round ${round}: ${acknowledged.length} acknowledged, ${events.length} in the log, ${report.checkpoints} checkpoints\n`);
        } finally {
          await store.close();
        }
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
