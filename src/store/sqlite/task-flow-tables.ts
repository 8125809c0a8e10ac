// Task flows in SQLite (migration 11): what has flowed in each task, kept under the
// task's root mandate (every mandate delegated below it shares the flow). A flow only
// grows, so a merge is a join done in one transaction: the sensitivity level takes
// the maximum, `untrusted` once set stays set, entries are added and never removed;
// two calls merging at once both keep what they saw. A merge that adds nothing writes
// nothing.
import type { TaskFlow } from '../../delegation/task-flow.ts';
import { badRequest } from '../../errors.ts';
import type { Sensitivity } from '../types.ts';
import { num } from './rows.ts';
import type { TableSql } from './table-sql.ts';

/** The statements, transaction and memory of the store that owns the connection. */
export type TaskFlowSql = Pick<TableSql, 'get' | 'all' | 'write' | 'transaction' | 'remember' | 'forget'>;

const LEVELS: readonly Sensitivity[] = ['public', 'internal', 'confidential', 'secret'];
const levelOf = (s: Sensitivity): number => LEVELS.indexOf(s);

const frozen = (entries: string[]): string[] => Object.freeze(entries) as string[];

export class TaskFlowTables {
  readonly #sql: TaskFlowSql;

  constructor(sql: TaskFlowSql) {
    this.#sql = sql;
  }

  /** The root of the mandate's delegation tree (a parent never changes, so this is remembered); null: no such mandate. */
  #task(mandateId: string): string | null {
    return this.#sql.remember(`task:${mandateId}`, () => {
      const row = this.#sql.get(
        `WITH RECURSIVE up(id, parent_id) AS (SELECT id, parent_id FROM mandates WHERE id = ?
           UNION ALL SELECT m.id, m.parent_id FROM mandates m JOIN up ON m.id = up.parent_id)
         SELECT id FROM up WHERE parent_id IS NULL`, mandateId,
      );
      return row ? String(row.id) : null;
    });
  }

  #read(task: string): TaskFlow | null {
    const row = this.#sql.get('SELECT max_sensitivity_level, untrusted FROM task_flows WHERE task = ?', task);
    if (!row) return null;
    const entries = this.#sql.all('SELECT kind, entry FROM task_flow_entries WHERE task = ? ORDER BY kind, entry', task);
    const of = (kind: string): string[] => frozen(entries.filter((r) => r.kind === kind).map((r) => String(r.entry)));
    return { maxSensitivity: LEVELS[num(row.max_sensitivity_level)] as Sensitivity, untrusted: num(row.untrusted) === 1, tools: of('tool'), destinations: of('destination') };
  }

  get(mandateId: string): TaskFlow | null {
    const task = this.#task(mandateId);
    return task === null ? null : this.#sql.remember(`flow:${task}`, () => this.#read(task));
  }

  /** Deletes the flows kept under these roots, in one transaction; answers how many there were. */
  forget(roots: readonly string[]): number {
    if (roots.length === 0) return 0;
    const ids = JSON.stringify(roots);
    return this.#sql.transaction(() => {
      this.#sql.write('DELETE FROM task_flow_entries WHERE task IN (SELECT value FROM json_each(?))', ids);
      const forgotten = this.#sql.write('DELETE FROM task_flows WHERE task IN (SELECT value FROM json_each(?))', ids);
      for (const root of roots) this.#sql.forget(`flow:${root}`);
      return forgotten;
    });
  }

  merge(mandateId: string, flow: TaskFlow, now: number): TaskFlow {
    const task = this.#task(mandateId);
    if (task === null) throw badRequest('mandate_not_found', `no mandate with id ${mandateId}`);
    return this.#sql.transaction(() => {
      const stored = this.#read(task);
      const level = Math.max(levelOf(flow.maxSensitivity), stored ? levelOf(stored.maxSensitivity) : 0);
      const untrusted = flow.untrusted || (stored?.untrusted ?? false);
      const newTools = flow.tools.filter((t) => !stored?.tools.includes(t));
      const newDestinations = flow.destinations.filter((d) => !stored?.destinations.includes(d));
      const changed = !stored || level !== levelOf(stored.maxSensitivity) || untrusted !== stored.untrusted || newTools.length > 0 || newDestinations.length > 0;
      if (!changed) return stored;
      this.#sql.write(
        `INSERT INTO task_flows (task, max_sensitivity_level, untrusted, updated_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (task) DO UPDATE SET max_sensitivity_level = excluded.max_sensitivity_level, untrusted = excluded.untrusted, updated_at = excluded.updated_at`,
        task, level, untrusted ? 1 : 0, now,
      );
      for (const entry of new Set(newTools)) this.#sql.write("INSERT OR IGNORE INTO task_flow_entries (task, kind, entry) VALUES (?, 'tool', ?)", task, entry);
      for (const entry of new Set(newDestinations)) this.#sql.write("INSERT OR IGNORE INTO task_flow_entries (task, kind, entry) VALUES (?, 'destination', ?)", task, entry);
      this.#sql.forget(`flow:${task}`);
      return this.#read(task) as TaskFlow;
    });
  }
}
