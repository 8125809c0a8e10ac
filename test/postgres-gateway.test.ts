// Dynamic PostgreSQL credentials through the gateway, every part real: Mandate with
// its PostgreSQL role provider configured, the reference PostgreSQL MCP server
// (@modelcontextprotocol/server-postgres) registered as a stdio server that takes a
// lease, the MCP SDK client as the agent, and the local PostgreSQL (127.0.0.1:5432,
// database `test`, or MANDATE_TEST_PG_URL). A session's process gets its mandate's own
// role in the libpq environment and queries as it; revoking the mandate (or the root
// of its delegation chain) ends the session, stops the process, terminates its
// database session and drops the role, each receipt in the audit log. The machine's
// PostgreSQL trusts local connections, so whether a password still logs in is read
// from the SCRAM verifier PostgreSQL stores for the role.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import pg from 'pg';
import type { PostgresConfig } from '../src/config.ts';
import { clientAssertion, dpopProof, type AgentKey } from '../src/client/agent-key.ts';
import { connectToGateway } from '../src/client/mcp-client.ts';
import { PostgresRoleProvider } from '../src/credentials/postgres-roles.ts';
import { roleNameFor } from '../src/credentials/postgres-sql.ts';
import { CLIENT_ASSERTION_TYPE } from '../src/identity/client-auth.ts';
import { GRANT_TYPE_TOKEN_EXCHANGE, TOKEN_TYPE_ACCESS_TOKEN, TOKEN_TYPE_JWT } from '../src/delegation/token-exchange.ts';
import { GATEWAY_DENIED } from '../src/gateway/session.ts';
import { nowSeconds } from '../src/lib/clock.ts';
import { exchange, grantScenario, startMandate, type Harness, type Scenario } from './harness.ts';
import { connectTestAdmin, TEST_PG_URL, verifierAccepts } from './fixtures/postgres.ts';

const ADMIN_URL = TEST_PG_URL;
const DATABASE = new URL(ADMIN_URL).pathname.slice(1);
const RUN = randomBytes(4).toString('hex');
const PREFIX = `mandate_g${RUN}_`;
const BROKEN_PREFIX = `mandate_b${RUN}_`;
const SCHEMA = `mandate_gw_${RUN}`;
const GRANTS = [`GRANT CONNECT ON DATABASE ${DATABASE} TO {role}`, `GRANT USAGE ON SCHEMA ${SCHEMA} TO {role}`, `GRANT SELECT ON ALL TABLES IN SCHEMA ${SCHEMA} TO {role}`];
const SERVER_PACKAGE = createRequire(import.meta.url).resolve('@modelcontextprotocol/server-postgres/package.json');
const ENV_SERVER = new URL('./fixtures/env-server.ts', import.meta.url).pathname;
const FLAGS = process.features.typescript ? [] : ['--experimental-strip-types', '--disable-warning=ExperimentalWarning'];
const CLI = new URL('../bin/mandate.js', import.meta.url).pathname;
const SERVER_BIN = join(dirname(SERVER_PACKAGE), (JSON.parse(readFileSync(SERVER_PACKAGE, 'utf8')) as { bin: Record<string, string> }).bin['mcp-server-postgres'] as string);

let admin: pg.Client;
let h: Harness;

const providerConfig = (overrides: Partial<PostgresConfig> = {}): PostgresConfig => ({ adminUrl: ADMIN_URL, database: null, grants: GRANTS, rolePrefix: PREFIX, ...overrides });

async function addDatabaseServer(harness: Harness): Promise<void> {
  const added = await harness.api('POST', '/api/v1/servers', {
    body: { name: 'db', command: process.execPath, args: [SERVER_BIN, 'postgres://'], lease: { provider: 'postgres' }, tools: [{ name: 'query', sensitivity: 'internal', effect: 'read' }] },
  });
  assert.equal(added.status, 201, JSON.stringify(added.body));
  assert.deepEqual((added.body.upstream as { lease?: unknown }).lease, { provider: 'postgres', env: null });
}

before(async () => {
  admin = await connectTestAdmin(ADMIN_URL);
  await admin.query(`CREATE SCHEMA ${SCHEMA}`);
  await admin.query(`CREATE TABLE ${SCHEMA}.invoices (id int PRIMARY KEY, customer text NOT NULL, total numeric NOT NULL)`);
  await admin.query(`INSERT INTO ${SCHEMA}.invoices VALUES (1, 'Acme', 120.50), (2, 'Globex', 80)`);
  h = await startMandate({ postgres: providerConfig() });
  await addDatabaseServer(h);
});

after(async () => {
  await h?.close();
  if (!admin) return;
  for (const prefix of [PREFIX, BROKEN_PREFIX]) {
    const left = await admin.query<{ rolname: string }>('SELECT rolname FROM pg_roles WHERE starts_with(rolname, $1)', [prefix]);
    for (const { rolname } of left.rows) {
      await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1', [rolname]);
      await admin.query(`DROP OWNED BY ${pg.escapeIdentifier(rolname)}`);
      await admin.query(`DROP ROLE ${pg.escapeIdentifier(rolname)}`);
    }
  }
  await admin.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
  await admin.end();
});

interface UpstreamProcess { pid: number; cmdline: string; env: Record<string, string> }

/** The PostgreSQL MCP servers running as children of this process (Mandate runs in it), with their command lines and environments. */
function upstreamProcesses(): UpstreamProcess[] {
  const found: UpstreamProcess[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) !== process.pid) continue;
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ');
      if (!cmdline.includes(SERVER_BIN)) continue;
      const env = Object.fromEntries(readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0').filter((v) => v.includes('=')).map((v) => [v.slice(0, v.indexOf('=')), v.slice(v.indexOf('=') + 1)]));
      found.push({ pid: Number(entry), cmdline, env });
    } catch {
      // it ended meanwhile
    }
  }
  return found;
}

const processesOf = (role: string): UpstreamProcess[] => upstreamProcesses().filter((p) => p.env.PGUSER === role);

/** What PostgreSQL stores for the role: whether it may log in and its SCRAM verifier; undefined once it is gone. */
async function stored(role: string): Promise<{ rolcanlogin: boolean; rolpassword: string | null } | undefined> {
  return (await admin.query<{ rolcanlogin: boolean; rolpassword: string | null }>('SELECT rolcanlogin, rolpassword FROM pg_authid WHERE rolname = $1', [role])).rows[0];
}


const backends = async (pids: number[], roles: string[]): Promise<number> =>
  (await admin.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = ANY($1::int[]) OR usename = ANY($2::text[])', [pids, roles])).rows[0]?.n ?? -1;

async function query(client: Client, sql: string): Promise<Array<Record<string, unknown>>> {
  const result = await client.callTool({ name: 'query', arguments: { sql } });
  assert.notEqual(result.isError, true, JSON.stringify(result));
  return JSON.parse((result.content as Array<{ text: string }>)[0]?.text ?? 'null') as Array<Record<string, unknown>>;
}

async function taskToken(harness: Harness, scenario: Scenario): Promise<string> {
  const answer = await exchange(harness, scenario, { resource: `${harness.url}/mcp/db` });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return String(answer.body.access_token);
}

const connect = (task: string, key: AgentKey): Promise<Client> => connectToGateway(`${h.url}/mcp/db`, task, key, 'postgres-gateway');

type Event = Record<string, unknown> & { seq: number; kind: string; method: string | null; mandate: string | null };
const lastSeq = async (harness = h): Promise<number> => ((await harness.api('GET', '/api/v1/audit/events?limit=1')).body.events as Event[])[0]?.seq ?? 0;
const eventsAfter = async (seq: number, harness = h): Promise<Event[]> => (await harness.api('GET', `/api/v1/audit/events?after=${seq}&limit=1000`)).body.events as Event[];

describe('a mandate\'s PostgreSQL role through the gateway', () => {
  it('exists while the mandate stands: its session\'s server queries as that role, the password only in its environment; a second session reuses the role', async () => {
    const from = await lastSeq();
    const scenario = await grantScenario(h, { allow: ['db/query'] });
    const role = roleNameFor(PREFIX, scenario.mandateId);
    const task = await taskToken(h, scenario);
    const first = await connect(task, scenario.key);
    assert.deepEqual(await query(first, 'SELECT current_user AS who'), [{ who: role }]);
    assert.deepEqual(await query(first, `SELECT id, customer, total FROM ${SCHEMA}.invoices ORDER BY id`), [
      { id: 1, customer: 'Acme', total: '120.50' },
      { id: 2, customer: 'Globex', total: '80' },
    ]);

    const [running] = processesOf(role);
    assert.ok(running, 'the session\'s server runs with the role in its libpq environment');
    const password = running.env.PGPASSWORD as string;
    assert.ok(password.length >= 40);
    assert.ok(!running.cmdline.includes(password), 'the password is not on the command line');
    assert.equal(running.env.MANDATE_PG_ADMIN_URL, undefined);
    const row = await stored(role);
    assert.equal(row?.rolcanlogin, true);
    assert.ok(verifierAccepts(row?.rolpassword, password), 'PostgreSQL stores the verifier of the password the server was given');

    const second = await connect(task, scenario.key);
    assert.deepEqual(await query(second, 'SELECT current_user AS who'), [{ who: role }]);
    assert.deepEqual(await query(first, 'SELECT count(*)::int AS n FROM ' + `${SCHEMA}.invoices`), [{ n: 2 }], 'the first session\'s server still connects: the role was reused, not given a new password');
    assert.deepEqual(processesOf(role).map((p) => p.env.PGPASSWORD), [password, password]);

    const uses = (await eventsAfter(from)).filter((e) => e.method === 'credential/use');
    assert.deepEqual(uses.map((e) => [e.decision, e.tool, e.credentials, e.mandate]), [
      ['allow', 'postgres-role', ['postgres:db'], scenario.mandateId], ['allow', 'postgres-role', ['postgres:db'], scenario.mandateId],
    ]);
    assert.match(String(uses[0]?.lease), /^lse_/);
    assert.equal(uses[1]?.lease, uses[0]?.lease);
    await Promise.all([first.close(), second.close()]);
  });

  it('ends with the root of its delegation chain: sessions terminated, processes gone, roles dropped, receipts recorded', async () => {
    const from = await lastSeq();
    const root = await grantScenario(h, { allow: ['db/query'] });
    const rootTask = await taskToken(h, root);
    const sub = await grantScenario(h, { allow: ['db/query'] });
    const tokenUrl = `${h.url}/oauth/token`;
    const delegated = await h.form('/oauth/token', {
      grant_type: GRANT_TYPE_TOKEN_EXCHANGE, subject_token: rootTask, subject_token_type: TOKEN_TYPE_ACCESS_TOKEN,
      actor_token: clientAssertion(sub.key, tokenUrl), actor_token_type: TOKEN_TYPE_JWT,
      client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: clientAssertion(root.key, tokenUrl),
    }, { dpop: dpopProof(root.key, 'POST', tokenUrl) });
    assert.equal(delegated.status, 200, JSON.stringify(delegated.body));
    const child: Scenario = { ...sub, mandateId: String(delegated.body.mandate_id), mandateToken: String(delegated.body.access_token) };

    const clients = [await connect(rootTask, root.key), await connect(await taskToken(h, child), child.key)];
    const roles = [roleNameFor(PREFIX, root.mandateId), roleNameFor(PREFIX, child.mandateId)];
    const pids: number[] = [];
    for (const [i, client] of clients.entries()) {
      const [answer] = await query(client, 'SELECT current_user AS who, pg_backend_pid() AS pid');
      assert.equal(answer?.who, roles[i], 'each mandate of the chain has its own role');
      pids.push(Number(answer?.pid));
    }
    const passwords = roles.map((role) => processesOf(role)[0]?.env.PGPASSWORD as string);
    assert.ok(passwords.every((p) => typeof p === 'string' && p.length > 0));
    assert.equal(await backends(pids, roles), 2);

    const revoked = await h.api('POST', '/api/v1/revocations', { token: root.personToken, body: { target: root.mandateId, reason: 'task cancelled' } });
    assert.equal(revoked.status, 200, JSON.stringify(revoked.body));
    assert.deepEqual(revoked.body.revoked, [root.mandateId, child.mandateId]);

    assert.equal(await backends(pids, roles), 0, 'their database sessions are gone from pg_stat_activity');
    for (const [i, role] of roles.entries()) {
      assert.deepEqual(processesOf(role), [], `the server that held ${role} is gone`);
      assert.equal((await admin.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role])).rowCount, 0, `${role} is gone from pg_roles`);
      assert.equal(verifierAccepts((await stored(role))?.rolpassword, passwords[i] as string), false, 'its password logs in no more');
    }
    await assert.rejects(query(clients[0] as Client, 'SELECT 1'));

    const events = await eventsAfter(from);
    const receipts = events.filter((e) => e.kind === 'revocation' && e.method === 'credential/revoke');
    assert.deepEqual(receipts.map((e) => [e.mandate, e.outcome, e.caller, (e.receipt as { role: string; verified: boolean; roleGoneAfter: boolean; remainingSessions: number }).role,
      (e.receipt as { verified: boolean }).verified, (e.receipt as { remainingSessions: number }).remainingSessions]).sort(), [
      [root.mandateId, 'ok', 'system', roles[0], true, 0], [child.mandateId, 'ok', 'system', roles[1], true, 0],
    ].sort());
    const revocation = events.find((e) => e.kind === 'revocation' && e.method === 'mandate/revoke');
    assert.ok(revocation && receipts.every((e) => e.seq > revocation.seq), 'the roles are revoked after the mandates');
    const log = JSON.stringify(await eventsAfter(0));
    for (const password of passwords) assert.ok(!log.includes(password), 'no password in the audit log');
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  });

  it('ends when the sweep expires the mandate', async () => {
    const scenario = await grantScenario(h, { allow: ['db/query'], ttl: 60 });
    const role = roleNameFor(PREFIX, scenario.mandateId);
    const client = await connect(await taskToken(h, scenario), scenario.key);
    assert.deepEqual(await query(client, 'SELECT current_user AS who'), [{ who: role }]);
    const from = await lastSeq();
    assert.deepEqual(await h.app.mandates.expire(nowSeconds() + 120), [scenario.mandateId]);
    assert.deepEqual(processesOf(role), []);
    assert.equal(await stored(role), undefined);
    const receipt = (await eventsAfter(from)).find((e) => e.method === 'credential/revoke' && e.mandate === scenario.mandateId);
    assert.equal((receipt?.receipt as { verified?: boolean } | undefined)?.verified, true);
    await client.close().catch(() => undefined);
  });

  it('the reaper drops a role a crashed run left behind and keeps the roles of active mandates', async () => {
    const live = await grantScenario(h, { allow: ['db/query'] });
    const liveClient = await connect(await taskToken(h, live), live.key);
    await query(liveClient, 'SELECT 1 AS one');
    const crashed = new PostgresRoleProvider({ adminUrl: ADMIN_URL, grants: [], prefix: PREFIX });
    const orphan = await crashed.issue({ id: `mnd_orphan${RUN}`, expiresAt: nowSeconds() + 600 });
    await crashed.close();
    const from = await lastSeq();

    assert.ok(h.app.postgres);
    assert.equal(await h.app.postgres.reap(), 1);
    assert.equal(await stored(orphan.role), undefined);
    assert.equal((await stored(roleNameFor(PREFIX, live.mandateId)))?.rolcanlogin, true);
    const receipts = (await eventsAfter(from)).filter((e) => e.method === 'credential/revoke');
    assert.deepEqual(receipts.map((e) => [e.mandate, (e.receipt as { checks: string[] }).checks[0], (e.receipt as { verified: boolean }).verified]), [
      [`mnd_orphan${RUN}`, 'reaped: its mandate is no longer active', true],
    ]);
    await liveClient.close();
  });
});

describe('a role that cannot be issued', () => {
  it('refuses the session with a precise JSON-RPC error, recorded; nothing is started', async () => {
    const broken = await startMandate({ postgres: providerConfig({ rolePrefix: BROKEN_PREFIX, grants: ['GRANT USAGE ON SCHEMA no_such_schema_for_mandate TO {role}'] }) });
    try {
      await addDatabaseServer(broken);
      const scenario = await grantScenario(broken, { allow: ['db/query'] });
      const task = await taskToken(broken, scenario);
      const from = await lastSeq(broken);
      const before = upstreamProcesses().length;
      const resource = `${broken.url}/mcp/db`;
      const response = await fetch(resource, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: `DPoP ${task}`, dpop: dpopProof(scenario.key, 'POST', resource, task) },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } } }),
      });
      const answer = await response.json() as { id: number; error?: { code: number; message: string; data: { code: string; server: string; method: string } } };
      assert.equal(response.headers.get('mcp-session-id'), null, 'no session');
      assert.equal(answer.error?.code, -32603);
      assert.deepEqual(answer.error?.data, { code: 'credential_unavailable', server: 'db', method: 'credential/use' });
      assert.match(answer.error?.message ?? '', new RegExp(`the PostgreSQL role of mandate ${scenario.mandateId} for server db cannot be issued: .*schema "no_such_schema_for_mandate" does not exist`));
      assert.equal(upstreamProcesses().length, before, 'no server was started');
      assert.equal((await admin.query('SELECT 1 FROM pg_roles WHERE starts_with(rolname, $1)', [BROKEN_PREFIX])).rowCount, 0, 'nothing of the role remains');
      const use = (await eventsAfter(from, broken)).find((e) => e.method === 'credential/use');
      assert.deepEqual([use?.decision, use?.reason, use?.outcome, use?.mandate], ['deny', 'credential_unavailable', 'denied', scenario.mandateId]);
    } finally {
      await broken.close();
    }
  });
});

describe('a server that takes a lease', () => {
  it('is a stdio server; the variable that receives the lease follows a credential\'s rules, and no credential may take it', async () => {
    const refused = await h.api('POST', '/api/v1/servers', { body: { name: 'remote-db', url: 'https://db.example/mcp', lease: { provider: 'postgres' } } });
    assert.equal(refused.status, 400, JSON.stringify(refused.body));
    const mandateVariable = await h.api('POST', '/api/v1/servers', { body: { name: 'odd-db', command: 'true', lease: { provider: 'postgres', env: 'MANDATE_DB' } } });
    assert.deepEqual([mandateVariable.status, mandateVariable.body.code], [400, 'invalid_injection']);
    const taken = await h.api('POST', '/api/v1/credentials', { body: { name: 'db-password', server: 'db', inject: { env: 'PGPASSWORD' }, secret: 'a-static-password-1234' } });
    assert.deepEqual([taken.status, taken.body.code], [409, 'credential_target_taken']);
  });

  it('can get the lease URL in one variable instead; an answer carrying it never reaches the agent', async () => {
    const added = await h.api('POST', '/api/v1/servers', {
      body: { name: 'envdb', command: process.execPath, args: [...FLAGS, ENV_SERVER, 'stdio'], lease: { provider: 'postgres', env: 'DATABASE_URL' }, tools: ['env-digest', 'env-names', 'leak-env'].map((name) => ({ name, sensitivity: 'public', effect: 'read' })) },
    });
    assert.equal(added.status, 201, JSON.stringify(added.body));
    const scenario = await grantScenario(h, { allow: ['envdb/env-digest', 'envdb/env-names', 'envdb/leak-env'] });
    const answer = await exchange(h, scenario, { resource: `${h.url}/mcp/envdb` });
    const client = await connectToGateway(`${h.url}/mcp/envdb`, String(answer.body.access_token), scenario.key, 'postgres-gateway');
    try {
      assert.equal(((await client.callTool({ name: 'env-digest', arguments: { name: 'DATABASE_URL' } })).structuredContent as { set: boolean }).set, true);
      const names = JSON.parse(((await client.callTool({ name: 'env-names', arguments: {} })).content as Array<{ text: string }>)[0]?.text ?? '[]') as string[];
      assert.ok(!names.includes('PGPASSWORD'));
      await assert.rejects(client.callTool({ name: 'leak-env', arguments: { name: 'DATABASE_URL' } }), (error: unknown) => {
        assert.ok(error instanceof McpError);
        assert.equal(error.code, GATEWAY_DENIED);
        assert.equal((error.data as { code: string }).code, 'reply_carries_credential');
        return true;
      });
    } finally {
      await client.close();
    }
  });

  it('is registered from the command line with --lease', async () => {
    const run = (args: string[]) => new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH, HOME: process.env.HOME, MANDATE_URL: h.url, MANDATE_TOKEN: h.adminToken } }, (error, stdout, stderr) => {
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
      });
    });
    const added = await run(['server', 'add', 'cli-db', '--command', `${process.execPath} ${SERVER_BIN} postgres://`, '--lease', 'postgres:PG_URL', '--json']);
    assert.equal(added.code, 0, added.stderr);
    assert.deepEqual((JSON.parse(added.stdout) as { upstream: { lease: unknown } }).upstream.lease, { provider: 'postgres', env: 'PG_URL' });
    const wrong = await run(['server', 'add', 'cli-db2', '--url', 'https://db.example/mcp', '--lease', 'postgres']);
    assert.equal(wrong.code, 2);
    assert.match(wrong.stderr, /--lease goes with --command/);
  });
});
