// Approvals in SQLite (migration 9). Every check that decides whether an approval may
// still be decided or used is made in the statement (or transaction) that changes it,
// so two connections racing for one use cannot both have it. Approvals are never
// remembered by the store: each read goes to the table.
import type { SQLInputValue } from 'node:sqlite';
import type { Approval, ApprovalFilter, ApprovalState } from '../../approvals/types.ts';
import { badRequest, conflict } from '../../errors.ts';
import type { ApprovalDecision, ApprovalUse } from '../types.ts';
import { json, num, numOrNull, parse, strOrNull, type Row } from './rows.ts';
import type { TableSql } from './table-sql.ts';

/** The statements and transaction of the store that owns the connection. */
export type ApprovalSql = Pick<TableSql, 'get' | 'all' | 'write' | 'transaction'>;

export const DEFAULT_APPROVAL_LIST_LIMIT = 100;

/** The moment an approved approval can no longer be used: the later of its window and its repeat period. */
const USABLE_UNTIL = 'MAX(usable_until, COALESCE(repeat_until, 0))';
/** An approved approval of digest ?1 that can still be used at ?2: within its window or repeat period, under its uses; the oldest decided first. */
const USABLE = `SELECT * FROM approvals WHERE digest = ?1 AND state = 'approved' AND uses < max_uses AND ${USABLE_UNTIL} > ?2 ORDER BY decided_at, id LIMIT 1`;

export const toApproval = (r: Row): Approval => ({
  id: String(r.id), digest: String(r.digest), binding: parse(r.binding), initiator: String(r.initiator), approvers: parse(r.approvers), policies: parse(r.policies),
  preview: parse(r.preview), state: r.state as ApprovalState, createdAt: num(r.created_at), expiresAt: num(r.expires_at), decidedAt: numOrNull(r.decided_at),
  decidedBy: strOrNull(r.decided_by), note: strOrNull(r.note), usableUntil: numOrNull(r.usable_until), repeatUntil: numOrNull(r.repeat_until),
  maxUses: num(r.max_uses), uses: num(r.uses), usedAt: numOrNull(r.used_at),
});

export class ApprovalTables {
  readonly #sql: ApprovalSql;

  constructor(sql: ApprovalSql) {
    this.#sql = sql;
  }

  create(a: Approval): void {
    try {
      this.#sql.write(
        `INSERT INTO approvals (id, digest, binding, mandate_id, initiator, approvers, policies, preview, state, created_at, expires_at, decided_at, decided_by, note,
           usable_until, repeat_until, max_uses, uses, used_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        a.id, a.digest, json(a.binding), a.binding.mandateId, a.initiator, json(a.approvers), json(a.policies), json(a.preview ?? null), a.state, a.createdAt, a.expiresAt,
        a.decidedAt, a.decidedBy, a.note, a.usableUntil, a.repeatUntil, a.maxUses, a.uses, a.usedAt,
      );
    } catch (error) {
      const message = String((error as Error)?.message);
      if (message.includes('UNIQUE constraint failed: approvals.digest')) throw conflict('approval_exists', `an approval of digest ${a.digest} is already pending`);
      if (message.includes('UNIQUE constraint failed')) throw conflict('approval_exists', `an approval with id ${a.id} already exists`);
      if (message.includes('FOREIGN KEY constraint failed')) throw badRequest('mandate_not_found', `no mandate with id ${a.binding.mandateId}`);
      throw error;
    }
  }

  get(id: string): Approval | null {
    const row = this.#sql.get('SELECT * FROM approvals WHERE id = ?', id);
    return row ? toApproval(row) : null;
  }

  list(filter: ApprovalFilter): Approval[] {
    const where: string[] = [];
    const params: SQLInputValue[] = [];
    if (filter.state !== undefined) { where.push('state = ?'); params.push(filter.state); }
    if (filter.mandateId !== undefined) { where.push('mandate_id = ?'); params.push(filter.mandateId); }
    const clause = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
    return this.#sql.all(`SELECT * FROM approvals ${clause} ORDER BY created_at DESC, id DESC LIMIT ?`, ...params, filter.limit ?? DEFAULT_APPROVAL_LIST_LIMIT).map(toApproval);
  }

  findPending(digest: string, now: number): Approval | null {
    const row = this.#sql.get("SELECT * FROM approvals WHERE digest = ? AND state = 'pending' AND expires_at > ?", digest, now);
    return row ? toApproval(row) : null;
  }

  findDenied(digest: string, decidedAfter: number): Approval | null {
    const row = this.#sql.get("SELECT * FROM approvals WHERE digest = ? AND state = 'denied' AND decided_at > ? ORDER BY decided_at DESC, id DESC LIMIT 1", digest, decidedAfter);
    return row ? toApproval(row) : null;
  }

  findUsable(digest: string, now: number): Approval | null {
    const row = this.#sql.get(USABLE, digest, now);
    return row ? toApproval(row) : null;
  }

  decide(id: string, decision: 'approved' | 'denied', by: string, note: string | null, now: number, use: ApprovalUse): ApprovalDecision {
    return this.#sql.transaction((): ApprovalDecision => {
      const row = this.#sql.get('SELECT * FROM approvals WHERE id = ?', id);
      if (!row) return { ok: false, reason: 'not_found', approval: null };
      if (row.state !== 'pending') return { ok: false, reason: 'not_pending', approval: toApproval(row) };
      if (num(row.expires_at) <= now) {
        this.#sql.write("UPDATE approvals SET state = 'expired' WHERE id = ? AND state = 'pending'", id);
        return { ok: false, reason: 'expired', approval: this.get(id) };
      }
      if (decision === 'approved') {
        this.#sql.write(
          "UPDATE approvals SET state = 'approved', decided_at = ?, decided_by = ?, note = ?, usable_until = ?, repeat_until = ?, max_uses = ? WHERE id = ? AND state = 'pending'",
          now, by, note, use.usableUntil, use.repeatUntil, use.maxUses, id,
        );
      } else {
        this.#sql.write("UPDATE approvals SET state = 'denied', decided_at = ?, decided_by = ?, note = ? WHERE id = ? AND state = 'pending'", now, by, note, id);
      }
      return { ok: true, approval: this.get(id) as Approval };
    });
  }

  consume(digest: string, now: number): Approval | null {
    // One statement: the use is taken only while every condition still holds, and the
    // use that spends the last one ends the approval (SET reads the row as it was).
    const row = this.#sql.get(
      `UPDATE approvals SET uses = uses + 1, used_at = ?2, state = CASE WHEN uses + 1 >= max_uses THEN 'used' ELSE state END
       WHERE id = (SELECT id FROM (${USABLE}))
         AND state = 'approved' AND uses < max_uses AND ${USABLE_UNTIL} > ?2
       RETURNING *`,
      digest, now,
    );
    return row ? toApproval(row) : null;
  }

  expire(now: number): Approval[] {
    return this.#sql.transaction(() => {
      const ids = this.#sql.all(
        `SELECT id FROM approvals WHERE (state = 'pending' AND expires_at <= ?) OR (state = 'approved' AND ${USABLE_UNTIL} <= ?) ORDER BY created_at, id`, now, now,
      ).map((r) => String(r.id));
      if (ids.length === 0) return [];
      this.#sql.write(
        `UPDATE approvals SET state = CASE WHEN state = 'approved' AND uses > 0 THEN 'used' ELSE 'expired' END
         WHERE id IN (SELECT value FROM json_each(?)) AND state IN ('pending', 'approved')`, json(ids),
      );
      return this.#sql.all('SELECT * FROM approvals WHERE id IN (SELECT value FROM json_each(?)) ORDER BY created_at, id', json(ids)).map(toApproval);
    });
  }
}
