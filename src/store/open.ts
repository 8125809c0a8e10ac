import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config.ts';
import { MandateError } from '../errors.ts';
import { SqliteStore } from './sqlite/sqlite-store.ts';
import type { Store } from './types.ts';

export const SQLITE_FILE = 'mandate.db';

/** Opens the configured store: PostgreSQL for a `postgres://` URL, else SQLite in the data directory. */
export async function openStore(config: Config): Promise<Store> {
  if (config.databaseUrl) {
    throw new MandateError('store_unsupported', 'MANDATE_DATABASE_URL (PostgreSQL) is not supported in this version yet; unset it to use the embedded SQLite store', { status: 503 });
  }
  if (!existsSync(config.dataDir)) {
    throw new MandateError('not_initialised', `no data directory at ${config.dataDir}: run \`mandate init\` (or \`mandate serve --init\`)`, { status: 503 });
  }
  return new SqliteStore(join(config.dataDir, SQLITE_FILE), { synchronous: config.sqliteSynchronous });
}
