// The PostgreSQL role provider's settings from the environment: off without an admin
// URL, the grant templates split on ";" or line breaks, and a setting that cannot
// work without the admin URL refused by name.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MandateError } from './errors.ts';
import { loadConfig } from './config.ts';

const ADMIN_URL = 'postgres://admin:s3cret-admin-pw@db.internal:5432/orders?sslmode=require';

describe('MANDATE_PG_* settings', () => {
  it('leave the provider off when MANDATE_PG_ADMIN_URL is not set', () => {
    assert.equal(loadConfig({}).postgres, null);
    assert.equal(loadConfig({ MANDATE_PG_ADMIN_URL: '' }).postgres, null);
  });

  it('read the admin URL, database, prefix and the grant templates, separated by ";" or line breaks', () => {
    const config = loadConfig({
      MANDATE_PG_ADMIN_URL: ADMIN_URL,
      MANDATE_PG_DATABASE: 'orders',
      MANDATE_PG_ROLE_PREFIX: 'agents_',
      MANDATE_PG_GRANTS: 'GRANT CONNECT ON DATABASE orders TO {role}; GRANT USAGE ON SCHEMA reporting TO {role};\n  GRANT SELECT ON ALL TABLES IN SCHEMA reporting TO {role}\n',
    });
    assert.deepEqual(config.postgres, {
      adminUrl: ADMIN_URL,
      database: 'orders',
      rolePrefix: 'agents_',
      grants: ['GRANT CONNECT ON DATABASE orders TO {role}', 'GRANT USAGE ON SCHEMA reporting TO {role}', 'GRANT SELECT ON ALL TABLES IN SCHEMA reporting TO {role}'],
    });
    assert.deepEqual(loadConfig({ MANDATE_PG_ADMIN_URL: ADMIN_URL }).postgres, { adminUrl: ADMIN_URL, database: null, rolePrefix: null, grants: [] });
  });

  it('refuse the other settings without the admin URL, naming the variable and never a URL', () => {
    for (const name of ['MANDATE_PG_DATABASE', 'MANDATE_PG_GRANTS', 'MANDATE_PG_ROLE_PREFIX']) {
      assert.throws(() => loadConfig({ [name]: 'x' }), (error: unknown) => {
        assert.ok(error instanceof MandateError);
        assert.equal(error.code, 'invalid_config');
        assert.match(error.message, new RegExp(`${name} is set but MANDATE_PG_ADMIN_URL is not`));
        return true;
      });
    }
  });
});
