import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { describe, it } from 'node:test';
import { agent, person, storeContract } from '../store-contract.ts';
import { MIGRATIONS } from './migrations.ts';
import { SqliteStore } from './sqlite-store.ts';

async function tempFile(): Promise<{ path: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'mandate-sqlite-'));
  return { path: join(dir, 'mandate.db'), cleanup: () => rm(dir, { recursive: true, force: true }) };
}

storeContract('SQLite', async () => {
  const { path, cleanup } = await tempFile();
  return { store: new SqliteStore(path), cleanup };
});

describe('SQLite store', () => {
  it('runs in WAL mode with full synchronous writes', async () => {
    const { path, cleanup } = await tempFile();
    const store = new SqliteStore(path);
    await store.close();
    const db = new DatabaseSync(path);
    assert.equal((db.prepare('PRAGMA journal_mode').get() as { journal_mode: string }).journal_mode, 'wal');
    db.close();
    await cleanup();
  });

  it('keeps data across close and reopen, without re-applying migrations', async () => {
    const { path, cleanup } = await tempFile();
    const first = new SqliteStore(path);
    await first.createPerson(person('alice'));
    assert.equal(first.schemaVersion, MIGRATIONS.at(-1)?.version);
    await first.close();
    const second = new SqliteStore(path);
    assert.equal((await second.getPerson('alice'))?.id, 'alice');
    assert.equal(second.schemaVersion, MIGRATIONS.at(-1)?.version);
    await second.close();
    const db = new DatabaseSync(path);
    const rows = db.prepare('SELECT version FROM schema_migrations').all() as Array<{ version: number }>;
    assert.deepEqual(rows.map((r) => r.version), MIGRATIONS.map((m) => m.version));
    db.close();
    await cleanup();
  });

  it('leaves no partial agent behind when its enrollment cannot be stored', async () => {
    const { path, cleanup } = await tempFile();
    const store = new SqliteStore(path);
    await store.createPerson(person('alice'));
    const first = agent('one', 'alice');
    await store.createAgent(first, { tokenHash: 'same-hash', agentId: first.id, expiresAt: 2_000_000_000 });
    const second = agent('two', 'alice');
    await assert.rejects(store.createAgent(second, { tokenHash: 'same-hash', agentId: second.id, expiresAt: 2_000_000_000 }));
    assert.equal(await store.getAgent(second.id), null);
    assert.deepEqual((await store.listAgents()).map((a) => a.name), ['one']);
    await store.close();
    await cleanup();
  });
});
