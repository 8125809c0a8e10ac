// Sealed credentials in SQLite (migration 8). The rows hold only what seal.ts made:
// the secret under its data key and the data key under a key-encryption key named by
// its id; neither the secret nor any key that opens it is ever written here.
import type { SQLInputValue } from 'node:sqlite';
import { badRequest, conflict } from '../../errors.ts';
import type { CredentialInjection, CredentialRewrap, SealedCredential } from '../types.ts';
import { num, numOrNull, type Row } from './rows.ts';
import type { TableSql } from './table-sql.ts';

/** The statements, transaction and memory of the store that owns the connection. */
export type CredentialSql = Pick<TableSql, 'get' | 'all' | 'run' | 'transaction' | 'remember'>;

const isUniqueViolation = (error: unknown, column: string): boolean => {
  const message = String((error as Error)?.message);
  return message.includes('UNIQUE constraint failed') && message.includes(column);
};

const bytes = (value: SQLInputValue | undefined): Uint8Array => (value instanceof Uint8Array ? new Uint8Array(value) : new Uint8Array());

export function toCredential(r: Row): SealedCredential {
  const injection: CredentialInjection = r.kind === 'header'
    ? { kind: 'header', header: String(r.target), format: String(r.format) }
    : { kind: 'env', variable: String(r.target) };
  return {
    id: String(r.id), name: String(r.name), server: String(r.server), injection, sealed: bytes(r.sealed), wrappedKey: bytes(r.wrapped_key),
    kekId: String(r.kek_id), createdAt: num(r.created_at), rotatedAt: numOrNull(r.rotated_at), rewrappedAt: numOrNull(r.rewrapped_at),
  };
}

export class CredentialTables {
  readonly #sql: CredentialSql;

  constructor(sql: CredentialSql) {
    this.#sql = sql;
  }

  create(c: SealedCredential): void {
    const target = c.injection.kind === 'header' ? c.injection.header : c.injection.variable;
    const format = c.injection.kind === 'header' ? c.injection.format : null;
    try {
      this.#sql.run(
        'INSERT INTO credentials (id, name, server, kind, target, format, sealed, wrapped_key, kek_id, created_at, rotated_at, rewrapped_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
        c.id, c.name, c.server, c.injection.kind, target, format, c.sealed, c.wrappedKey, c.kekId, c.createdAt, c.rotatedAt, c.rewrappedAt,
      );
    } catch (error) {
      if (isUniqueViolation(error, 'credentials.name')) throw conflict('credential_exists', `a credential named ${c.name} already exists`);
      if (isUniqueViolation(error, 'credentials.server')) {
        throw conflict('credential_target_taken', `server ${c.server} already has a credential injected as ${c.injection.kind === 'header' ? `header ${target}` : `variable ${target}`}`);
      }
      if (String((error as Error)?.message).includes('FOREIGN KEY constraint failed')) throw badRequest('server_not_found', `no server named ${c.server}`);
      throw error;
    }
  }

  get(id: string): SealedCredential | null {
    return this.#sql.remember(`credential:${id}`, () => {
      const row = this.#sql.get('SELECT * FROM credentials WHERE id = ?', id);
      return row ? toCredential(row) : null;
    });
  }

  list(server?: string): SealedCredential[] {
    if (server === undefined) return this.#sql.all('SELECT * FROM credentials ORDER BY server, name').map(toCredential);
    // Read whenever a session opens or a request is proxied: remembered until the next write.
    return this.#sql.remember(`credentials:${server}`, () => this.#sql.all('SELECT * FROM credentials WHERE server = ? ORDER BY name', server).map((r) => Object.freeze(toCredential(r))));
  }

  remove(id: string): boolean {
    return this.#sql.run('DELETE FROM credentials WHERE id = ?', id) === 1;
  }

  replaceSecret(id: string, sealed: Pick<SealedCredential, 'sealed' | 'wrappedKey' | 'kekId'>, now: number): SealedCredential | null {
    const changed = this.#sql.run('UPDATE credentials SET sealed = ?, wrapped_key = ?, kek_id = ?, rotated_at = ? WHERE id = ?', sealed.sealed, sealed.wrappedKey, sealed.kekId, now, id);
    return changed === 1 ? this.get(id) : null;
  }

  rewrap(rewraps: readonly CredentialRewrap[], now: number): void {
    this.#sql.transaction(() => {
      for (const r of rewraps) {
        const changed = this.#sql.run('UPDATE credentials SET wrapped_key = ?, kek_id = ?, rewrapped_at = ? WHERE id = ? AND kek_id = ?', r.wrappedKey, r.kekId, now, r.id, r.fromKekId);
        if (changed !== 1) throw conflict('credential_changed', `credential ${r.id} was removed or rewrapped meanwhile; nothing was rewrapped, run the rotation again`);
      }
    });
  }
}
