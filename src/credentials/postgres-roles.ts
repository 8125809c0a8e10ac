// Dynamic PostgreSQL credentials: one login role per mandate, created when an upstream
// needs it, valid until the mandate expires, granted from a template; on revocation or
// completion its login is disabled, its sessions terminated and the role dropped, and
// a receipt says what PostgreSQL showed afterwards (pg_roles, pg_stat_activity). The
// reaper finds the roles a crash left behind by the mandate id in their comment.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { PoolClient } from 'pg';
import { MandateError } from '../errors.ts';
import { nowSeconds } from '../lib/clock.ts';
import { newId } from '../lib/ids.ts';
import { describePgFailure } from './postgres-errors.ts';
import { scramVerifier } from './postgres-scram.ts';
import {
  DEFAULT_ROLE_PREFIX, checkGrants, checkPrefix, parseRoleComment, quoteIdentifier, quoteLiteral, renderGrant, roleComment,
  roleNameFor, timestampLiteral,
} from './postgres-sql.ts';
import { adminConnection, leaseUrl, type AdminConnection } from './postgres-url.ts';

export { libpqEnvironment } from './postgres-url.ts';

export interface PostgresProviderConfig {
  /** An admin connection URL (a role with CREATEROLE): a secret, never logged nor put in an error. */
  adminUrl: string;
  /** The database the roles connect to and are granted in (default: the admin URL's). The admin connects to it too. */
  database?: string;
  /** Grants applied to each new role: GRANT statements naming the role as `{role}`, e.g. `GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}`. */
  grants: string[];
  /** Role name prefix, default `mandate_`; the reaper considers only roles with it. */
  prefix?: string;
  /** Concurrent sessions a role may open (default: no limit). */
  connectionLimit?: number;
  /** Called with every receipt (revoke and reap) before it is returned or thrown, e.g. to append it to the audit log. */
  onReceipt?: (receipt: RevocationReceipt) => void | Promise<void>;
}

export interface RoleLease {
  leaseId: string;
  mandateId: string;
  role: string;
  /** When the role stops accepting its password: the mandate's expiry, seconds since the epoch. */
  expiresAt: number;
  /** `postgres://role:password@host:port/database`: a secret. */
  url: string;
}

export interface RevocationReceipt {
  mandateId: string;
  role: string;
  /** When the verification was made, seconds since the epoch. */
  at: number;
  sessionsTerminated: number;
  /** null: PostgreSQL could not be asked. */
  roleExistedBefore: boolean | null;
  /** pg_roles has no role of that name (nor that oid) afterwards. */
  roleGoneAfter: boolean;
  /** Sessions of the role in pg_stat_activity afterwards; null: not known. */
  remainingSessions: number | null;
  /** The role is gone and none of its sessions remain: what revocation promises. */
  verified: boolean;
  /** What was done and seen, in order, one line each. */
  checks: string[];
}

interface RoleRow {
  oid: string;
  rolcanlogin: boolean;
  valid_until: number | null;
  expired: boolean;
  comment: string | null;
}

const ROLE_ROW = `SELECT oid::text AS oid, rolname, rolcanlogin, extract(epoch FROM rolvaliduntil)::float8 AS valid_until,
  coalesce(rolvaliduntil < now(), false) AS expired, shobj_description(oid, 'pg_authid') AS comment FROM pg_roles`;
const PASSWORD_BYTES = 32;
/** A grant can still meet a concurrent change of the same object from outside Mandate; such a clash is tried again. */
const ISSUE_ATTEMPTS = 3;
const TERMINATE_WAIT_MS = 5000;
const SESSION_SETTLE_MS = 5000;

const unavailable = (message: string): MandateError => new MandateError('credential_unavailable', message, { status: 503 });
/**
 * Every change to the provider's roles holds one transaction lock per prefix: grants on
 * one database or schema from concurrent transactions update the same catalog row and
 * fail ("tuple concurrently updated"), and a role being issued must not be dropped
 * half-way. Several Mandate processes sharing the server share the lock.
 */
const lockRoles = (client: PoolClient, prefix: string) => client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`mandate-credentials:${prefix}`]);
const isConcurrentUpdate = (error: unknown): boolean => {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  return code === '40001' || code === '40P01' || (code === 'XX000' && typeof message === 'string' && message.includes('concurrently updated'));
};
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const at = (seconds: number | null): string =>
  seconds === null ? 'no expiry' : Number.isFinite(seconds) ? new Date(seconds * 1000).toISOString() : String(seconds);

function checkMandate(mandate: { id: string; expiresAt: number }): void {
  if (typeof mandate.id !== 'string' || !/^[\x21-\x7e]{1,200}$/.test(mandate.id)) throw new MandateError('invalid_request', 'a mandate id is 1–200 printable characters');
  if (!Number.isInteger(mandate.expiresAt)) throw new MandateError('invalid_request', 'a mandate\'s expiry is whole seconds since the epoch');
}

export class PostgresRoleProvider {
  readonly #admin: AdminConnection;
  readonly #grants: string[];
  readonly #prefix: string;
  readonly #connectionLimit: number;
  readonly #onReceipt: PostgresProviderConfig['onReceipt'];
  readonly #pool: pg.Pool;
  #closed = false;

  constructor(config: PostgresProviderConfig) {
    this.#admin = adminConnection(config.adminUrl, config.database);
    this.#grants = checkGrants(config.grants);
    this.#prefix = checkPrefix(config.prefix ?? DEFAULT_ROLE_PREFIX);
    const limit = config.connectionLimit ?? -1;
    if (!Number.isInteger(limit) || limit < -1) throw new MandateError('invalid_config', 'the connection limit of a role is a whole number (or -1 for none)');
    this.#connectionLimit = limit;
    this.#onReceipt = config.onReceipt;
    this.#pool = new pg.Pool({
      connectionString: this.#admin.connectionString,
      max: 4,
      idleTimeoutMillis: 10_000,
      connectionTimeoutMillis: 10_000,
      statement_timeout: 15_000,
      application_name: 'mandate-credentials',
      allowExitOnIdle: true,
    });
    // An idle connection the server closed: the next checkout reports it.
    this.#pool.on('error', () => undefined);
  }

  /** The role a mandate's credentials are issued as. */
  roleName(mandateId: string): string {
    return roleNameFor(this.#prefix, mandateId);
  }

  /**
   * A login role for the mandate, valid until its expiry. One role per mandate: issuing
   * again for the same mandate gives the same role a fresh password (the old one stops
   * working; sessions already open keep running) and re-applies expiry and grants. The
   * caller issues only for an active mandate. Throws `credential_unavailable` when the
   * role cannot be created and granted in full: then nothing of it remains.
   */
  async issue(mandate: { id: string; expiresAt: number }): Promise<RoleLease> {
    checkMandate(mandate);
    if (mandate.expiresAt <= nowSeconds()) throw unavailable(`mandate ${mandate.id} has expired: no database role is issued for it`);
    const role = this.roleName(mandate.id);
    const password = randomBytes(PASSWORD_BYTES).toString('base64url');
    const verifier = scramVerifier(password);
    const secrets = [...this.#admin.secrets, password, verifier];
    const leaseId = newId('lse');
    const client = await this.#connect(secrets, (reason) => unavailable(`cannot create a database role for mandate ${mandate.id}: ${reason}`));
    const name = quoteIdentifier(role);
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          await client.query('BEGIN');
          await lockRoles(client, this.#prefix);
          const existing = (await client.query<RoleRow>(`${ROLE_ROW} WHERE rolname = $1`, [role])).rows[0];
          const login = `LOGIN PASSWORD ${quoteLiteral(verifier)} VALID UNTIL ${timestampLiteral(mandate.expiresAt)} CONNECTION LIMIT ${this.#connectionLimit}`;
          if (existing) {
            const owner = parseRoleComment(this.#prefix, role, existing.comment);
            if (owner?.mandateId !== mandate.id) throw unavailable(`a database role named ${role} exists that Mandate did not issue for mandate ${mandate.id}`);
            if (owner.revokedAt !== undefined) throw unavailable(`the database role of mandate ${mandate.id} was revoked; it is not issued again`);
            await client.query(`ALTER ROLE ${name} ${login}`);
          } else {
            await client.query(`CREATE ROLE ${name} NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT ${login}`);
          }
          await client.query(`COMMENT ON ROLE ${name} IS ${quoteLiteral(roleComment({ mandateId: mandate.id, leaseId }))}`);
          for (const grant of this.#grants) await client.query(renderGrant(grant, role));
          await client.query('COMMIT');
          break;
        } catch (error) {
          await client.query('ROLLBACK').catch(() => undefined);
          if (error instanceof MandateError) throw error;
          if (attempt >= ISSUE_ATTEMPTS || !isConcurrentUpdate(error)) {
            throw unavailable(`cannot create the database role of mandate ${mandate.id}: ${describePgFailure(error, secrets)}`);
          }
        }
      }
    } finally {
      client.release();
    }
    return { leaseId, mandateId: mandate.id, role, expiresAt: mandate.expiresAt, url: leaseUrl(this.#admin, role, password) };
  }

  /**
   * Ends the mandate's role: login disabled first (so a failure later still leaves it
   * unusable), its sessions terminated, what it owns reassigned to the admin, its
   * privileges dropped, the role dropped; then pg_roles and pg_stat_activity are read.
   * The receipt goes to `onReceipt`; when it is not verified, revoke then throws
   * `credential_revocation_unverified` with the receipt in `extensions.receipt`.
   * A mandate without a role gets a verified receipt saying so.
   */
  async revoke(mandateId: string): Promise<RevocationReceipt> {
    checkMandate({ id: mandateId, expiresAt: 0 });
    const receipt = await this.#revokeRole(mandateId, this.roleName(mandateId), 'revoked');
    await this.#onReceipt?.(receipt);
    if (!receipt.verified) throw unverified([receipt]);
    return receipt;
  }

  /**
   * Revokes every role with the prefix that Mandate issued (its comment names the
   * mandate) whose mandate is not active or whose VALID UNTIL has passed; roles it did
   * not issue are left alone. Throws `credential_revocation_unverified` (all receipts in
   * `extensions.receipts`) after trying them all when any is not verified. An error of
   * `isActive` stops the reaper there.
   */
  async reap(isActive: (mandateId: string) => Promise<boolean> | boolean): Promise<RevocationReceipt[]> {
    const client = await this.#connect(this.#admin.secrets, (reason) => unavailable(`cannot look for orphaned database roles: ${reason}`));
    let rows: Array<RoleRow & { rolname: string }>;
    try {
      rows = (await client.query<RoleRow & { rolname: string }>(`${ROLE_ROW} WHERE starts_with(rolname, $1) ORDER BY rolname`, [this.#prefix])).rows;
    } catch (error) {
      throw unavailable(`cannot look for orphaned database roles: ${describePgFailure(error, this.#admin.secrets)}`);
    } finally {
      client.release();
    }
    const receipts: RevocationReceipt[] = [];
    for (const row of rows) {
      const owner = parseRoleComment(this.#prefix, row.rolname, row.comment);
      if (owner === null) continue;
      const why = row.expired ? `VALID UNTIL ${at(row.valid_until)} has passed`
        : owner.revokedAt !== undefined ? 'an earlier revocation did not finish'
        : !(await isActive(owner.mandateId)) ? 'its mandate is no longer active' : null;
      if (why === null) continue;
      const receipt = await this.#revokeRole(owner.mandateId, row.rolname, `reaped: ${why}`);
      await this.#onReceipt?.(receipt);
      receipts.push(receipt);
    }
    if (receipts.some((r) => !r.verified)) throw unverified(receipts);
    return receipts;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pool.end();
  }

  async #connect(secrets: readonly string[], failure: (reason: string) => MandateError): Promise<PoolClient> {
    if (this.#closed) throw failure('the provider is closed');
    try {
      return await this.#pool.connect();
    } catch (error) {
      throw failure(`PostgreSQL cannot be reached: ${describePgFailure(error, secrets)}`);
    }
  }

  /** Never throws for a PostgreSQL failure: what could not be done or seen is in the receipt. */
  async #revokeRole(mandateId: string, role: string, why: string): Promise<RevocationReceipt> {
    const checks: string[] = [why];
    const receipt: RevocationReceipt = {
      mandateId, role, at: nowSeconds(), sessionsTerminated: 0, roleExistedBefore: null, roleGoneAfter: false, remainingSessions: null, verified: false, checks,
    };
    const secrets = this.#admin.secrets;
    let client: PoolClient;
    try {
      client = await this.#connect(secrets, (reason) => unavailable(reason));
    } catch (error) {
      checks.push(error instanceof MandateError ? error.message : 'PostgreSQL cannot be reached');
      return receipt;
    }
    const name = quoteIdentifier(role);
    /** One step: its failure is a line of the receipt, and the steps after it still run. */
    const step = async <T>(what: string, run: () => Promise<T>): Promise<T | undefined> => {
      try {
        return await run();
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        checks.push(`${what} failed: ${describePgFailure(error, secrets)}`);
        return undefined;
      }
    };
    try {
      const row = await step('reading pg_roles', async () => (await client.query<RoleRow>(`${ROLE_ROW} WHERE rolname = $1`, [role])).rows[0] ?? null);
      if (row === undefined) return receipt;
      receipt.roleExistedBefore = row !== null;
      const owner = row === null ? null : parseRoleComment(this.#prefix, role, row.comment);
      if (row === null) checks.push(`pg_roles: no role ${role} before revocation`);
      else if (owner?.mandateId !== mandateId) {
        checks.push(`pg_roles: role ${role} was not issued by Mandate for mandate ${mandateId}: left alone`);
        return receipt;
      } else {
        checks.push(`pg_roles: role ${role} (oid ${row.oid}) existed, login ${row.rolcanlogin ? 'allowed' : 'disabled'}, valid until ${at(row.valid_until)}`);
        await step('disabling login', async () => {
          await client.query('BEGIN');
          await lockRoles(client, this.#prefix);
          await client.query(`ALTER ROLE ${name} NOLOGIN PASSWORD NULL`);
          await client.query(`COMMENT ON ROLE ${name} IS ${quoteLiteral(roleComment({ mandateId, leaseId: owner.leaseId, revokedAt: owner.revokedAt ?? receipt.at }))}`);
          await client.query('COMMIT');
          checks.push('ALTER ROLE NOLOGIN PASSWORD NULL: login disabled');
        });
        await step('terminating sessions', async () => {
          receipt.sessionsTerminated += await terminateSessions(client, row.oid);
          checks.push(`pg_terminate_backend: ${receipt.sessionsTerminated} session(s) of oid ${row.oid} terminated`);
        });
        await step('dropping the role', async () => {
          await client.query('BEGIN');
          await lockRoles(client, this.#prefix);
          await client.query(`REASSIGN OWNED BY ${name} TO CURRENT_USER`);
          await client.query(`DROP OWNED BY ${name}`);
          await client.query(`DROP ROLE ${name}`);
          await client.query('COMMIT');
          checks.push('REASSIGN OWNED, DROP OWNED, DROP ROLE: done');
        });
      }
      const oid = row?.oid ?? null;
      await step('verifying', async () => {
        const left = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_roles WHERE rolname = $1 OR oid = $2::oid', [role, oid ?? '0']);
        receipt.roleGoneAfter = left.rows[0]?.n === 0;
        if (receipt.roleGoneAfter) checks.push(`pg_roles: no role ${role}${oid === null ? '' : ` nor oid ${oid}`}`);
        else {
          const state = await client.query<{ rolcanlogin: boolean }>('SELECT rolcanlogin FROM pg_roles WHERE rolname = $1', [role]);
          checks.push(`pg_roles: role ${role} still exists, login ${state.rows[0]?.rolcanlogin === false ? 'disabled' : 'allowed'}`);
        }
        receipt.remainingSessions = await settleSessions(client, role, oid, receipt);
        checks.push(`pg_stat_activity: ${receipt.remainingSessions} session(s) of ${role}${oid === null ? '' : ` or oid ${oid}`}`);
      });
    } finally {
      client.release();
    }
    receipt.at = nowSeconds();
    receipt.verified = receipt.roleGoneAfter && receipt.remainingSessions === 0;
    return receipt;
  }
}

async function terminateSessions(client: PoolClient, oid: string): Promise<number> {
  const result = await client.query<{ terminated: boolean }>(
    'SELECT pg_terminate_backend(pid, $2) AS terminated FROM pg_stat_activity WHERE usesysid = $1::oid AND pid <> pg_backend_pid()',
    [oid, TERMINATE_WAIT_MS],
  );
  return result.rows.filter((row) => row.terminated).length;
}

/**
 * Sessions of the role still listed, by name and by oid (a session outliving its
 * dropped role has no name any more). Any found are terminated again, until none
 * remain or the wait is over.
 */
async function settleSessions(client: PoolClient, role: string, oid: string | null, receipt: RevocationReceipt): Promise<number> {
  const deadline = Date.now() + SESSION_SETTLE_MS;
  for (;;) {
    const found = await client.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM pg_stat_activity WHERE (usename = $1 OR usesysid = $2::oid) AND pid <> pg_backend_pid()',
      [role, oid ?? '0'],
    );
    const remaining = found.rows[0]?.n ?? 0;
    if (remaining === 0 || oid === null || Date.now() > deadline) return remaining;
    receipt.sessionsTerminated += await terminateSessions(client, oid);
    await sleep(100);
  }
}

function unverified(receipts: RevocationReceipt[]): MandateError {
  const failed = receipts.filter((r) => !r.verified);
  const first = failed[0];
  const why = first ? first.checks.filter((c) => /failed|still exists|left alone|cannot/.test(c)) : [];
  const detail = first ? `${first.role} (mandate ${first.mandateId}): ${(why.length > 0 ? why : first.checks.slice(-1)).join('; ')}` : '';
  const message = `${failed.length === 1 ? 'a database role' : `${failed.length} database roles`} could not be verified gone: ${detail}`;
  return new MandateError('credential_revocation_unverified', message, {
    status: 503,
    extensions: receipts.length === 1 ? { receipt: receipts[0] } : { receipts },
  });
}
