// Dynamic PostgreSQL credentials with a real upstream: the reference PostgreSQL MCP
// server (@modelcontextprotocol/server-postgres), started over stdio with a mandate's
// lease, answers the real MCP SDK client's `query` calls with rows from the real
// PostgreSQL (127.0.0.1:5432, database `test`, or MANDATE_TEST_PG_URL). Once the
// mandate is revoked its session is gone, its queries fail and no server started
// with that lease can connect again.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type pg from 'pg';
import { PostgresRoleProvider, libpqEnvironment, type RoleLease } from '../src/credentials/postgres-roles.ts';
import { nowSeconds } from '../src/lib/clock.ts';
import { connectTestAdmin, TEST_PG_URL } from './fixtures/postgres.ts';

const ADMIN_URL = TEST_PG_URL;
const RUN = randomBytes(4).toString('hex');
const PREFIX = `mandate_e${RUN}_`;
const SCHEMA = `mandate_e2e_${RUN}`;
const SERVER_PACKAGE = createRequire(import.meta.url).resolve('@modelcontextprotocol/server-postgres/package.json');
const SERVER_BIN = join(dirname(SERVER_PACKAGE), (JSON.parse(readFileSync(SERVER_PACKAGE, 'utf8')) as { bin: Record<string, string> }).bin['mcp-server-postgres'] as string);

let admin: pg.Client;
let provider: PostgresRoleProvider;

interface Upstream { client: Client; stderr: () => string; exited: Promise<number | null>; close: () => Promise<void> }

/** The PostgreSQL MCP server as a stdio upstream: its connection string is its argument (that is how it takes one). */
async function startUpstream(connectionString: string, env: Record<string, string> = {}): Promise<Upstream> {
  const transport = new StdioClientTransport({ command: process.execPath, args: [SERVER_BIN, connectionString], env: { PATH: process.env.PATH ?? '', ...env }, stderr: 'pipe' });
  let stderr = '';
  transport.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
  const exited = new Promise<number | null>((resolve) => { transport.onclose = () => resolve(null); });
  const client = new Client({ name: 'postgres-credentials-test', version: '1.0.0' });
  await client.connect(transport);
  return { client, stderr: () => stderr, exited, close: () => client.close().catch(() => undefined) };
}

const query = async (upstream: Upstream, sql: string): Promise<unknown> => {
  const result = await upstream.client.callTool({ name: 'query', arguments: { sql } });
  assert.notEqual(result.isError, true, JSON.stringify(result));
  return JSON.parse((result.content as Array<{ text: string }>)[0]?.text ?? 'null');
};

const mandate = () => ({ id: `mnd_${RUN}${randomBytes(12).toString('base64url')}`, expiresAt: nowSeconds() + 600 });

before(async () => {
  admin = await connectTestAdmin(ADMIN_URL);
  await admin.query(`CREATE SCHEMA ${SCHEMA}`);
  await admin.query(`CREATE TABLE ${SCHEMA}.invoices (id int PRIMARY KEY, customer text NOT NULL, total numeric NOT NULL)`);
  await admin.query(`INSERT INTO ${SCHEMA}.invoices VALUES (1, 'Acme', 120.50), (2, 'Globex', 80)`);
  provider = new PostgresRoleProvider({
    adminUrl: ADMIN_URL,
    prefix: PREFIX,
    grants: ['GRANT CONNECT ON DATABASE test TO {role}', `GRANT USAGE ON SCHEMA ${SCHEMA} TO {role}`, `GRANT SELECT ON ALL TABLES IN SCHEMA ${SCHEMA} TO {role}`],
  });
});

after(async () => {
  if (provider) {
    await provider.reap(() => false).catch(() => undefined);
    await provider.close();
  }
  if (!admin) return;
  await admin.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
  await admin.end();
});

describe('the PostgreSQL MCP server with a mandate\'s lease', () => {
  let lease: RoleLease;
  let upstream: Upstream;
  const m = mandate();

  it('answers queries as the mandate\'s role, with what its grants allow', async () => {
    lease = await provider.issue(m);
    upstream = await startUpstream(lease.url);
    const tools = await upstream.client.listTools();
    assert.ok(tools.tools.some((t) => t.name === 'query'));
    assert.deepEqual(await query(upstream, `SELECT id, customer, total FROM ${SCHEMA}.invoices ORDER BY id`), [
      { id: 1, customer: 'Acme', total: '120.50' },
      { id: 2, customer: 'Globex', total: '80' },
    ]);
    assert.deepEqual(await query(upstream, 'SELECT current_user AS who'), [{ who: lease.role }]);
    const sessions = await admin.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1', [lease.role]);
    assert.ok((sessions.rows[0] as { n: number }).n >= 1, 'the server holds a session of the role');
  });

  it('after revocation: its session was terminated, its next query fails, and it cannot connect again', async () => {
    const receipt = await provider.revoke(m.id);
    assert.equal(receipt.verified, true);
    assert.ok(receipt.sessionsTerminated >= 1, `the server's pooled session was terminated: ${JSON.stringify(receipt)}`);

    // The server either reports the failed query or dies of its lost connection: either way, no rows.
    const next = await upstream.client.callTool({ name: 'query', arguments: { sql: `SELECT * FROM ${SCHEMA}.invoices` } }).then((r) => r, (e: unknown) => e);
    assert.ok(next instanceof Error || (next as { isError?: boolean }).isError === true, `no rows after revocation: ${JSON.stringify(next)}`);
    await upstream.close();

    const restarted = await startUpstream(lease.url);
    try {
      await assert.rejects(restarted.client.callTool({ name: 'query', arguments: { sql: 'SELECT 1' } }), /role .* does not exist/);
    } finally {
      await restarted.close();
    }
  });
});

describe('a lease handed over in the libpq environment', () => {
  it('keeps the password off the upstream\'s command line and still connects', async () => {
    const m = mandate();
    const lease = await provider.issue(m);
    const env = libpqEnvironment(lease.url);
    const upstream = await startUpstream('postgres://', env);
    try {
      assert.deepEqual(await query(upstream, `SELECT count(*)::int AS n FROM ${SCHEMA}.invoices`), [{ n: 2 }]);
      assert.deepEqual(await query(upstream, 'SELECT current_user AS who'), [{ who: lease.role }]);
    } finally {
      await upstream.close();
      await provider.revoke(m.id);
    }
  });
});
