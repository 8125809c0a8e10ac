// The PostgreSQL role provider against a real PostgreSQL (127.0.0.1:5432, database
// `test`, or MANDATE_TEST_PG_URL): a mandate's role exists while the mandate does,
// reads what its grants allow and nothing more, loses its open sessions and its
// login on revocation and is gone afterwards; the receipt says what was seen; the
// reaper ends the roles a crash left behind; nothing secret leaks into an error.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { MandateError } from '../errors.ts';
import { nowSeconds } from '../lib/clock.ts';
import { freePort } from '../lib/free-port.ts';
import { PostgresRoleProvider, type RevocationReceipt } from './postgres-roles.ts';
import { connectTestAdmin, TEST_PG_URL, verifierAccepts } from '../../test/fixtures/postgres.ts';

const ADMIN_URL = TEST_PG_URL;
const RUN = randomBytes(4).toString('hex');
const PREFIX = `mandate_t${RUN}_`;
const SCHEMA = `mandate_test_${RUN}`;
const GRANTS = [
  'GRANT CONNECT ON DATABASE test TO {role}',
  `GRANT USAGE ON SCHEMA ${SCHEMA} TO {role}`,
  `GRANT SELECT ON ALL TABLES IN SCHEMA ${SCHEMA} TO {role}`,
];

let admin: pg.Client;
let provider: PostgresRoleProvider;
const receipts: RevocationReceipt[] = [];
let mandates = 0;
const mandate = (ttl = 600) => ({ id: `mnd_${RUN}${randomBytes(12).toString('base64url')}${mandates++}`, expiresAt: nowSeconds() + ttl });

async function connectAs(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

/** The role's row, or undefined once it is gone. */
async function roleRow(role: string) {
  const result = await admin.query<{ rolcanlogin: boolean; valid_until: number; rolpassword: string | null; comment: string | null }>(
    `SELECT rolcanlogin, extract(epoch FROM rolvaliduntil)::float8 AS valid_until, rolpassword, shobj_description(oid, 'pg_authid') AS comment
       FROM pg_authid WHERE rolname = $1`, [role]);
  return result.rows[0];
}


const passwordOf = (url: string): string => decodeURIComponent(new URL(url).password);

before(async () => {
  admin = await connectTestAdmin(ADMIN_URL);
  await admin.query(`CREATE SCHEMA ${SCHEMA}`);
  await admin.query(`CREATE TABLE ${SCHEMA}.reports (id int PRIMARY KEY, title text NOT NULL)`);
  await admin.query(`INSERT INTO ${SCHEMA}.reports VALUES (1, 'Q3 revenue'), (2, 'Q3 costs')`);
  provider = new PostgresRoleProvider({ adminUrl: ADMIN_URL, grants: GRANTS, prefix: PREFIX, onReceipt: (r) => { receipts.push(r); } });
});

after(async () => {
  await provider?.close();
  if (!admin) return;
  const left = await admin.query<{ rolname: string }>('SELECT rolname FROM pg_roles WHERE starts_with(rolname, $1)', [PREFIX]);
  for (const { rolname } of left.rows) {
    const name = pg.escapeIdentifier(rolname);
    await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1`, [rolname]);
    await admin.query(`DROP OWNED BY ${name}`);
    await admin.query(`DROP ROLE ${name}`);
  }
  await admin.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
  await admin.end();
});

describe('a mandate\'s PostgreSQL role', () => {
  it('exists with the mandate\'s expiry and id, logs in with the lease URL and may read but not write', async () => {
    const m = mandate();
    const lease = await provider.issue(m);
    assert.equal(lease.mandateId, m.id);
    assert.equal(lease.expiresAt, m.expiresAt);
    assert.match(lease.role, new RegExp(`^${PREFIX}[0-9a-f]{32}$`));
    assert.match(lease.leaseId, /^lse_/);
    const password = passwordOf(lease.url);
    assert.match(password, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(new URL(lease.url).username, lease.role);
    assert.equal(new URL(lease.url).pathname, '/test');

    const row = await roleRow(lease.role);
    assert.ok(row, 'the role is in pg_roles');
    assert.equal(row.rolcanlogin, true);
    assert.equal(row.valid_until, m.expiresAt);
    assert.deepEqual(JSON.parse(row.comment ?? '{}'), { issuer: 'mandate', mandate: m.id, lease: lease.leaseId });
    assert.ok(verifierAccepts(row.rolpassword, password), 'the stored SCRAM verifier is the lease password\'s');

    const session = await connectAs(lease.url);
    try {
      assert.equal((await session.query('SELECT current_user AS who')).rows[0].who, lease.role);
      const rows = (await session.query(`SELECT id, title FROM ${SCHEMA}.reports ORDER BY id`)).rows;
      assert.deepEqual(rows, [{ id: 1, title: 'Q3 revenue' }, { id: 2, title: 'Q3 costs' }]);
      await assert.rejects(session.query(`INSERT INTO ${SCHEMA}.reports VALUES (3, 'forged')`), { code: '42501' });
      await assert.rejects(session.query(`CREATE TABLE ${SCHEMA}.mine (x int)`), { code: '42501' });
    } finally {
      await session.end();
    }
    await provider.revoke(m.id);
  });

  it('issued again for the same mandate is the same role with a fresh password', async () => {
    const m = mandate();
    const first = await provider.issue(m);
    const second = await provider.issue({ ...m, expiresAt: m.expiresAt + 60 });
    assert.equal(second.role, first.role);
    assert.notEqual(second.leaseId, first.leaseId);
    assert.notEqual(passwordOf(second.url), passwordOf(first.url));
    const row = await roleRow(second.role);
    assert.ok(verifierAccepts(row?.rolpassword, passwordOf(second.url)));
    assert.ok(!verifierAccepts(row?.rolpassword, passwordOf(first.url)));
    assert.equal(row?.valid_until, m.expiresAt + 60);
    await provider.revoke(m.id);
  });

  it('is issued and revoked for many mandates at once (their grants touch the same catalog rows)', async () => {
    const many = Array.from({ length: 8 }, () => mandate());
    const leases = await Promise.all(many.map((m) => provider.issue(m)));
    assert.equal(new Set(leases.map((l) => l.role)).size, many.length);
    const ended = await Promise.all(many.map((m) => provider.revoke(m.id)));
    assert.ok(ended.every((r) => r.verified && r.roleExistedBefore === true));
  });

  it('is not created for an expired mandate, nor when a grant fails: nothing of it remains', async () => {
    const expired = mandate(-1);
    await assert.rejects(provider.issue(expired), { code: 'credential_unavailable', message: /has expired/ });
    assert.equal(await roleRow(provider.roleName(expired.id)), undefined);

    const broken = new PostgresRoleProvider({ adminUrl: ADMIN_URL, grants: [...GRANTS, `GRANT SELECT ON ${SCHEMA}.missing TO {role}`], prefix: PREFIX });
    try {
      const m = mandate();
      await assert.rejects(broken.issue(m), (error: unknown) =>
        error instanceof MandateError && error.code === 'credential_unavailable' && error.status === 503 && /SQLSTATE 42P01/.test(error.message));
      assert.equal(await roleRow(broken.roleName(m.id)), undefined);
    } finally {
      await broken.close();
    }
  });
});

describe('revoking a mandate\'s role', () => {
  it('terminates its open session, stops it logging in and drops it; the receipt says so', async () => {
    const m = mandate();
    const lease = await provider.issue(m);
    const session = await connectAs(lease.url);
    assert.equal((await session.query('SELECT 1 AS one')).rows[0].one, 1);
    const oid = (await admin.query<{ oid: string }>('SELECT oid::text AS oid FROM pg_roles WHERE rolname = $1', [lease.role])).rows[0]?.oid;

    const receipt = await provider.revoke(m.id);

    await assert.rejects(session.query('SELECT 1'), 'the open session is gone');
    await session.end().catch(() => undefined);
    await assert.rejects(connectAs(lease.url), { code: '28000', message: /role .* does not exist/ });
    assert.equal(await roleRow(lease.role), undefined);
    const sessions = await admin.query('SELECT 1 FROM pg_stat_activity WHERE usename = $1 OR usesysid = $2::oid', [lease.role, oid]);
    assert.equal(sessions.rowCount, 0);

    assert.equal(receipt.mandateId, m.id);
    assert.equal(receipt.role, lease.role);
    assert.equal(receipt.roleExistedBefore, true);
    assert.equal(receipt.sessionsTerminated, 1);
    assert.equal(receipt.roleGoneAfter, true);
    assert.equal(receipt.remainingSessions, 0);
    assert.equal(receipt.verified, true);
    assert.ok(Math.abs(receipt.at - nowSeconds()) <= 2);
    const checks = receipt.checks.join('\n');
    assert.match(checks, new RegExp(`pg_roles: role ${lease.role} \\(oid ${oid}\\) existed, login allowed`));
    assert.match(checks, /NOLOGIN/);
    assert.match(checks, new RegExp(`pg_roles: no role ${lease.role} nor oid ${oid}`));
    assert.match(checks, /pg_stat_activity: 0 session\(s\)/);
    assert.ok(!checks.includes(passwordOf(lease.url)));
    assert.equal(receipts.at(-1), receipt, 'the receipt was handed to onReceipt');

    const again = await provider.revoke(m.id);
    assert.deepEqual({ ...again, at: 0, checks: [] }, { ...receipt, at: 0, checks: [], sessionsTerminated: 0, roleExistedBefore: false });
    assert.match(again.checks.join('\n'), /no role .* before revocation/);
  });

  it('that cannot drop the role still disables its login, then throws with the receipt; the reaper finishes it', async () => {
    const m = mandate();
    const lease = await provider.issue(m);
    // The role owns a schema in another database, where DROP OWNED does not reach: DROP ROLE fails.
    const other = new pg.Client({ connectionString: ADMIN_URL.replace(/\/test$/, '/postgres') });
    await other.connect();
    try {
      await other.query(`CREATE SCHEMA ${SCHEMA} AUTHORIZATION ${pg.escapeIdentifier(lease.role)}`);
      const before = receipts.length;
      const error = await provider.revoke(m.id).then(() => null, (e: unknown) => e);
      assert.ok(error instanceof MandateError, String(error));
      assert.equal(error.code, 'credential_revocation_unverified');
      assert.match(error.message, new RegExp(`${lease.role}.*still exists, login disabled`));
      const receipt = error.extensions?.receipt as RevocationReceipt;
      assert.equal(receipts.length, before + 1);
      assert.equal(receipts.at(-1), receipt, 'recorded before it was thrown');
      assert.deepEqual([receipt.roleExistedBefore, receipt.roleGoneAfter, receipt.remainingSessions, receipt.verified], [true, false, 0, false]);
      assert.match(receipt.checks.join('\n'), /dropping the role failed: SQLSTATE 2BP01/);
      const left = await roleRow(lease.role);
      assert.equal(left?.rolcanlogin, false);
      assert.equal(left?.rolpassword, null);
      const { revoked, ...comment } = JSON.parse(left?.comment ?? '{}') as { revoked: number };
      assert.deepEqual(comment, { issuer: 'mandate', mandate: m.id, lease: lease.leaseId });
      assert.ok(Math.abs(revoked - receipt.at) <= 2, 'the comment says when revocation began');
      await assert.rejects(connectAs(lease.url), { code: '28000', message: /not permitted to log in/ });
      await assert.rejects(provider.issue(m), { code: 'credential_unavailable', message: /was revoked/ });

      await other.query(`DROP SCHEMA ${SCHEMA}`);
      const reaped = await provider.reap(() => true);
      assert.deepEqual(reaped.map((r) => [r.role, r.verified, r.checks[0]]), [[lease.role, true, 'reaped: an earlier revocation did not finish']]);
      assert.equal(await roleRow(lease.role), undefined);
    } finally {
      await other.query(`DROP SCHEMA IF EXISTS ${SCHEMA}`);
      await other.end();
    }
  });
});

describe('the reaper', () => {
  it('drops the roles of inactive mandates and past VALID UNTIL, and leaves active ones and roles it did not issue', async () => {
    const ended = mandate();
    const active = mandate();
    const lapsed = mandate();
    const leases = await Promise.all([ended, active, lapsed].map((m) => provider.issue(m)));
    const [endedRole, activeRole, lapsedRole] = leases.map((l) => l.role) as [string, string, string];
    // As after a crash: nothing revoked; one role's VALID UNTIL has passed while its mandate still looks active.
    await admin.query(`ALTER ROLE ${pg.escapeIdentifier(lapsedRole)} VALID UNTIL '2001-01-01T00:00:00Z'`);
    const foreign = `${PREFIX}someone_elses`;
    await admin.query(`CREATE ROLE ${pg.escapeIdentifier(foreign)} LOGIN`);
    await admin.query(`COMMENT ON ROLE ${pg.escapeIdentifier(foreign)} IS 'made by hand'`);
    const session = await connectAs(leases[0]?.url as string);

    const asked: string[] = [];
    const reaped = await provider.reap(async (id) => { asked.push(id); return id !== ended.id; });

    assert.deepEqual(reaped.map((r) => r.role).sort(), [endedRole, lapsedRole].sort());
    assert.ok(reaped.every((r) => r.verified && r.roleGoneAfter && r.remainingSessions === 0));
    assert.equal(reaped.find((r) => r.role === endedRole)?.sessionsTerminated, 1);
    assert.equal(reaped.find((r) => r.role === endedRole)?.checks[0], 'reaped: its mandate is no longer active');
    assert.match(reaped.find((r) => r.role === lapsedRole)?.checks[0] ?? '', /^reaped: VALID UNTIL 2001-01-01T00:00:00.000Z has passed$/);
    assert.ok(!asked.includes(lapsed.id), 'an expired role is reaped without asking');
    assert.equal(await roleRow(endedRole), undefined);
    assert.equal(await roleRow(lapsedRole), undefined);
    assert.equal((await roleRow(activeRole))?.rolcanlogin, true);
    assert.ok(await roleRow(foreign), 'a role Mandate did not issue is left alone');
    await assert.rejects(session.query('SELECT 1'));
    await session.end().catch(() => undefined);

    assert.deepEqual(await provider.reap(() => true), []);
    await provider.revoke(active.id);
  });
});

describe('the admin URL', () => {
  it('never appears in an error, a receipt or the provider, even when PostgreSQL cannot be reached', async () => {
    const secret = `pw-${randomBytes(12).toString('hex')}`;
    const adminUrl = `postgres://postgres:${secret}@127.0.0.1:${await freePort()}/test`;
    const unreachable = new PostgresRoleProvider({ adminUrl, grants: GRANTS, prefix: PREFIX });
    const shown = (value: unknown) => `${inspect(value, { depth: 10, showHidden: true })}\n${JSON.stringify(value)}\n${(value as Error)?.stack ?? ''}`;
    try {
      const issued = await unreachable.issue(mandate()).then(() => null, (e: unknown) => e);
      assert.ok(issued instanceof MandateError && issued.code === 'credential_unavailable', String(issued));
      assert.match(issued.message, /ECONNREFUSED/);
      assert.equal(issued.cause, undefined);

      const revoked = await unreachable.revoke('mnd_x').then(() => null, (e: unknown) => e);
      assert.ok(revoked instanceof MandateError && revoked.code === 'credential_revocation_unverified', String(revoked));
      const receipt = revoked.extensions?.receipt as RevocationReceipt;
      assert.deepEqual([receipt.roleExistedBefore, receipt.roleGoneAfter, receipt.remainingSessions, receipt.verified], [null, false, null, false]);

      const reaped = await unreachable.reap(() => false).then(() => null, (e: unknown) => e);
      assert.ok(reaped instanceof MandateError && reaped.code === 'credential_unavailable', String(reaped));

      for (const value of [issued, revoked, receipt, reaped, unreachable]) {
        assert.ok(!shown(value).includes(secret), `no password in ${shown(value)}`);
        assert.ok(!shown(value).includes(adminUrl));
      }
    } finally {
      await unreachable.close();
    }
    await assert.rejects(unreachable.issue(mandate()), { code: 'credential_unavailable', message: /closed/ });
  });
});
