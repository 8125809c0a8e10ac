// What the store lends its tables modules (directory-tables.ts, mandate-tables.ts, …):
// its prepared statements, its transaction, and its memory of what the gateway reads on
// every request. Each module declares the part it uses; the store hands all of it.
import type { SQLInputValue } from 'node:sqlite';
import type { Row } from './rows.ts';

export interface TableSql {
  get(sql: string, ...params: SQLInputValue[]): Row | undefined;
  all(sql: string, ...params: SQLInputValue[]): Row[];
  /** A write: whatever is remembered may have changed, and is forgotten. */
  run(sql: string, ...params: SQLInputValue[]): number;
  /** A write that forgets nothing: what it changes is never remembered, or the caller puts it right itself. */
  write(sql: string, ...params: SQLInputValue[]): number;
  /** Runs `work` in one write transaction (BEGIN IMMEDIATE … COMMIT; rolled back if it throws). */
  transaction<T>(work: () => T): T;
  /** What is remembered under `key`, read (and remembered) when it is not. */
  remember<T>(key: string, read: () => T): T;
  /** What is remembered under `key`, without reading it (undefined: nothing). */
  recall(key: string): unknown;
  keep(key: string, value: unknown): void;
  forget(key: string): void;
}
