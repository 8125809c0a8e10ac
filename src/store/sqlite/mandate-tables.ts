// Mandates in SQLite: granting, reading, ending (with everything delegated below) and
// counting calls against budgets. Mandates are remembered by the store (the gateway
// reads one on every request); an end drops what is remembered, and a counted call
// gives a remembered mandate its new count rather than reading the row again.
import type { SQLInputValue } from 'node:sqlite';
import type { CallCount, Mandate, MandateFilter, MandateSelector, MandateState } from '../types.ts';
import { json, num, toMandate } from './rows.ts';
import type { TableSql } from './table-sql.ts';

/** The statements, transaction and memory of the store that owns the connection. */
export type MandateSql = Pick<TableSql, 'get' | 'all' | 'run' | 'write' | 'transaction' | 'remember' | 'recall' | 'keep' | 'forget'>;

/** The WHERE clause (and its parameters) that selects mandates for endMandates. */
function selectMandates(selector: MandateSelector): [string, SQLInputValue[]] {
  if ('id' in selector) return ['id = ?', [selector.id]];
  if ('agentId' in selector) return ['agent_id = ?', [selector.agentId]];
  if ('grantor' in selector) return ['grantor = ?', [selector.grantor]];
  if ('server' in selector) return ["EXISTS (SELECT 1 FROM json_each(scope) WHERE substr(value, 1, length(?) + 1) = ? || '/')", [selector.server, selector.server]];
  return ['1 = 1', []];
}

/**
 * The active mandates among `?` (a JSON array of ids) and everything delegated below
 * them, found through ended mandates too (they may have ended before cascading
 * existed). Read from the tree outward, each mandate's children by the parent index and
 * each found mandate by its id: the CROSS JOINs keep SQLite from scanning every active
 * (or every delegated) mandate and probing the tree instead, which made ending one
 * mandate cost as much as there were mandates in the store.
 */
export const ACTIVE_TREE_SQL = `WITH RECURSIVE tree(id) AS (SELECT value FROM json_each(?) UNION SELECT m.id FROM tree t CROSS JOIN mandates m ON m.parent_id = t.id)
  SELECT m.id FROM tree t CROSS JOIN mandates m ON m.id = t.id WHERE m.state = 'active' ORDER BY m.depth, m.created_at, m.id`;

const key = (id: string): string => `mandate:${id}`;

export class MandateTables {
  readonly #sql: MandateSql;

  constructor(sql: MandateSql) {
    this.#sql = sql;
  }

  create(m: Mandate): void {
    this.#sql.run(
      'INSERT INTO mandates (id, grantor, agent_id, parent_id, depth, chain, purpose, scope, not_before, expires_at, max_calls, calls_used, state, reason, created_at, ended_at, ended_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      m.id, m.grantor, m.agentId, m.parentId, m.depth, json(m.chain), m.purpose, json(m.scope), m.notBefore, m.expiresAt, m.maxCalls, m.callsUsed, m.state, m.reason, m.createdAt, m.endedAt, m.endedBy,
    );
  }

  get(id: string): Mandate | null {
    return this.#sql.remember(key(id), () => {
      const row = this.#sql.get('SELECT * FROM mandates WHERE id = ?', id);
      return row ? toMandate(row) : null;
    });
  }

  list(filter: MandateFilter = {}): Mandate[] {
    const where: string[] = [];
    const params: SQLInputValue[] = [];
    if (filter.agentId !== undefined) { where.push('agent_id = ?'); params.push(filter.agentId); }
    if (filter.grantor !== undefined) { where.push('grantor = ?'); params.push(filter.grantor); }
    if (filter.state !== undefined) { where.push('state = ?'); params.push(filter.state); }
    const clause = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
    return this.#sql.all(`SELECT * FROM mandates ${clause} ORDER BY created_at, id`, ...params).map(toMandate);
  }

  /** Ends the selected active mandates and every active one delegated below them; answers the ids ended, the selected first. */
  end(selector: MandateSelector, state: Exclude<MandateState, 'active'>, reason: string | null, now: number, by: string | null): string[] {
    const [where, param] = selectMandates(selector);
    return this.#sql.transaction(() => {
      const selected = this.#sql.all(`SELECT id FROM mandates WHERE state = 'active' AND ${where} ORDER BY created_at, id`, ...param).map((r) => String(r.id));
      if (selected.length === 0) return [];
      const ids = new Set(selected);
      const below = 'all' in selector ? [] : this.#sql.all(ACTIVE_TREE_SQL, json(selected)).map((r) => String(r.id)).filter((id) => !ids.has(id));
      const all = [...selected, ...below];
      this.#sql.run(`UPDATE mandates SET state = ?, reason = ?, ended_at = ?, ended_by = ? WHERE state = 'active' AND id IN (SELECT value FROM json_each(?))`, state, reason, now, by, json(all));
      return all;
    });
  }

  /** Ends the active mandates past their expiry; answers their ids. */
  expire(now: number): string[] {
    return this.#sql.transaction(() => {
      const ids = this.#sql.all("SELECT id FROM mandates WHERE state = 'active' AND expires_at <= ?", now).map((r) => String(r.id));
      this.#sql.run("UPDATE mandates SET state = 'expired', reason = 'expired', ended_at = expires_at WHERE state = 'active' AND expires_at <= ?", now);
      return ids;
    });
  }

  /**
   * Counts a call against the mandate and every mandate above it: a sub-agent's calls
   * are spent from its delegator's budget too, so delegating cannot multiply a budget.
   * All are counted or none (a link that cannot count undoes those counted before it).
   * Runs inside the caller's transaction (the one recording the decision).
   */
  countCall(id: string, now: number): CallCount {
    const counted: string[] = [];
    let outcome: CallCount = 'ok';
    for (let link: string | null = id; link !== null;) {
      const row = this.#sql.get(
        "UPDATE mandates SET calls_used = calls_used + 1 WHERE id = ? AND state = 'active' AND expires_at > ? AND (max_calls IS NULL OR calls_used < max_calls) RETURNING calls_used, parent_id",
        link, now,
      );
      if (!row) {
        const why = this.#uncountable(link, now);
        outcome = link === id ? why : why === 'exhausted' ? 'parent_exhausted' : 'parent_not_active';
        break;
      }
      counted.push(link);
      // A remembered mandate takes its new count, so the next request is resolved from
      // memory; only the count changed (reading back and parsing the whole row cost more
      // than the rest of the count).
      const known = this.#sql.recall(key(link)) as Mandate | null | undefined;
      if (known) this.#sql.keep(key(link), Object.freeze({ ...known, callsUsed: num(row.calls_used) }));
      link = row.parent_id === null ? null : String(row.parent_id);
    }
    if (outcome === 'ok') return 'ok';
    for (const link of counted) {
      this.#sql.write('UPDATE mandates SET calls_used = calls_used - 1 WHERE id = ?', link);
      this.#sql.forget(key(link));
    }
    return outcome;
  }

  /** Why a mandate could not count a call: gone, ended or expired, or its budget spent. */
  #uncountable(id: string, now: number): CallCount {
    this.#sql.forget(key(id));
    const row = this.#sql.get('SELECT state, expires_at FROM mandates WHERE id = ?', id);
    return !row || row.state !== 'active' || num(row.expires_at) <= now ? 'not_active' : 'exhausted';
  }
}
