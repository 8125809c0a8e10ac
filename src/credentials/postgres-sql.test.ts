// Role names, quoting, grant templates and the role comment: what reaches SQL from a
// mandate id or the configuration, and what the reaper accepts as a role Mandate issued.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MandateError } from '../errors.ts';
import { describePgFailure, scrubSecrets } from './postgres-errors.ts';
import {
  checkGrants, checkPrefix, parseRoleComment, quoteIdentifier, quoteLiteral, renderGrant, roleComment, roleNameFor, timestampLiteral,
} from './postgres-sql.ts';
import { adminConnection, leaseUrl, libpqEnvironment } from './postgres-url.ts';

const invalidConfig = (run: () => unknown, message: RegExp) =>
  assert.throws(run, (error: unknown) => error instanceof MandateError && error.code === 'invalid_config' && message.test(error.message));

describe('a mandate\'s role name', () => {
  it('is the prefix and 32 hex digits of the mandate id\'s hash: lowercase, stable, distinct', () => {
    const role = roleNameFor('mandate_', 'mnd_AbC-_x9');
    assert.match(role, /^mandate_[0-9a-f]{32}$/);
    assert.equal(roleNameFor('mandate_', 'mnd_AbC-_x9'), role);
    assert.notEqual(roleNameFor('mandate_', 'mnd_AbC-_x8'), role);
    assert.ok(Buffer.byteLength(roleNameFor('a'.repeat(30), 'mnd_x')) <= 63);
  });

  it('takes only a prefix of lowercase letters, digits and underscores', () => {
    assert.equal(checkPrefix('mandate_t1_'), 'mandate_t1_');
    for (const bad of ['', 'Mandate_', '1abc', 'a-b', 'a"b', 'x'.repeat(31)]) invalidConfig(() => checkPrefix(bad), /role prefix/);
  });
});

describe('quoting', () => {
  it('doubles quotes in identifiers and literals, and refuses NUL', () => {
    assert.equal(quoteIdentifier('we"ird'), '"we""ird"');
    assert.equal(quoteLiteral("it's"), "'it''s'");
    assert.equal(quoteLiteral('back\\slash'), " E'back\\\\slash'");
    invalidConfig(() => quoteIdentifier('a\0b'), /NUL/);
  });

  it('writes an expiry as a UTC timestamp literal', () => {
    assert.equal(timestampLiteral(1_800_000_000), "'2027-01-15T08:00:00.000Z'");
  });
});

describe('grant templates', () => {
  it('are GRANT statements with {role} filled in quoted', () => {
    const [grant] = checkGrants(['  GRANT SELECT ON ALL TABLES IN SCHEMA "reports" TO {role} ']);
    assert.equal(renderGrant(grant as string, 'mandate_ab'), 'GRANT SELECT ON ALL TABLES IN SCHEMA "reports" TO "mandate_ab"');
    assert.equal(renderGrant('GRANT a TO {role}, {role}', 'r'), 'GRANT a TO "r", "r"');
  });

  it('refuse anything that is not one GRANT naming the role', () => {
    invalidConfig(() => checkGrants(['ALTER ROLE {role} SUPERUSER']), /must be a GRANT statement/);
    invalidConfig(() => checkGrants(['GRANT SELECT ON t TO someone']), /must name the role as \{role\}/);
    invalidConfig(() => checkGrants(['GRANT SELECT ON t TO {role}; DROP TABLE t']), /one statement/);
    invalidConfig(() => checkGrants(['GRANT SELECT ON t TO {role} -- note']), /one statement/);
    invalidConfig(() => checkGrants(['GRANT SELECT ON t /* x */ TO {role}']), /one statement/);
    invalidConfig(() => checkGrants(['GRANT SELECT ON {schema}.t TO {role}']), /placeholder other than \{role\}/);
  });
});

describe('the comment on a role', () => {
  it('names the mandate and lease, and is accepted only for the role derived from that mandate', () => {
    const role = roleNameFor('mandate_', 'mnd_1');
    const comment = roleComment({ mandateId: 'mnd_1', leaseId: 'lse_1' });
    assert.deepEqual(parseRoleComment('mandate_', role, comment), { mandateId: 'mnd_1', leaseId: 'lse_1' });
    assert.equal(parseRoleComment('mandate_', roleNameFor('mandate_', 'mnd_2'), comment), null);
    assert.equal(parseRoleComment('other_', role, comment), null);
    for (const foreign of [null, '', 'a role for reports', '{"mandate":"mnd_1","lease":"x"}', '[1]']) {
      assert.equal(parseRoleComment('mandate_', role, foreign), null);
    }
  });

  it('records that a revocation began', () => {
    const role = roleNameFor('mandate_', 'mnd_1');
    const comment = roleComment({ mandateId: 'mnd_1', leaseId: 'revoked', revokedAt: 1_700_000_000 });
    assert.deepEqual(parseRoleComment('mandate_', role, comment), { mandateId: 'mnd_1', leaseId: 'revoked', revokedAt: 1_700_000_000 });
  });
});

describe('connection URLs', () => {
  it('point the admin at the roles\' database and a lease at the same server as its role', () => {
    const admin = adminConnection('postgres://admin:p%40ss@db.internal:6432/postgres?sslmode=require', 'orders');
    assert.equal(admin.connectionString, 'postgres://admin:p%40ss@db.internal:6432/orders?sslmode=require');
    assert.ok(admin.secrets.includes('p@ss') && admin.secrets.includes('p%40ss'));
    const url = leaseUrl(admin, 'mandate_ab', 'pw-_x');
    assert.equal(url, 'postgres://mandate_ab:pw-_x@db.internal:6432/orders?sslmode=require');
    assert.deepEqual(libpqEnvironment(url), {
      PGHOST: 'db.internal', PGPORT: '6432', PGDATABASE: 'orders', PGUSER: 'mandate_ab', PGPASSWORD: 'pw-_x', PGSSLMODE: 'require',
    });
    assert.equal(adminConnection('postgresql://admin@127.0.0.1/test', undefined).database, 'test');
  });

  it('refuse an admin URL that is not one, without repeating it', () => {
    const secret = 'hunter2-admin';
    for (const bad of [`not a url ${secret}`, `mysql://root:${secret}@db/app`]) {
      assert.throws(() => adminConnection(bad, 'test'), (error: unknown) =>
        error instanceof MandateError && error.code === 'invalid_config' && !JSON.stringify({ ...error, message: error.message }).includes(secret) && error.cause === undefined);
    }
    invalidConfig(() => adminConnection('postgres://admin@127.0.0.1', undefined), /no database/);
  });
});

describe('a PostgreSQL failure\'s description', () => {
  it('keeps the SQLSTATE and message and drops every known secret and URL credential', () => {
    const error = Object.assign(new Error('password authentication failed for "s3cr3t" via postgres://u:other@h/db'), { code: '28P01' });
    assert.equal(describePgFailure(error, ['s3cr3t']), 'SQLSTATE 28P01: password authentication failed for "[REDACTED]" via postgres://[REDACTED]@h/db');
    assert.equal(describePgFailure(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }), []), 'ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:1');
    assert.equal(scrubSecrets('a p%40ss b p@ss', ['p@ss']), 'a [REDACTED] b [REDACTED]');
  });
});
