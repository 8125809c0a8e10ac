// The embedded group directory in SQLite (migration 10): named groups of people, which
// approvals can name as approvers (`group:<name>`). Never remembered by the store: an
// approver removed from a group is no longer one on the very next decision.
import { badRequest, conflict, notFound } from '../../errors.ts';
import type { Group } from '../types.ts';
import { num } from './rows.ts';
import type { TableSql } from './table-sql.ts';

/** The statements and transaction of the store that owns the connection. */
export type GroupSql = Pick<TableSql, 'get' | 'all' | 'write' | 'transaction'>;

export class GroupTables {
  readonly #sql: GroupSql;

  constructor(sql: GroupSql) {
    this.#sql = sql;
  }

  create(group: Group): void {
    this.#sql.transaction(() => {
      if (this.#sql.get('SELECT 1 FROM person_groups WHERE name = ?', group.name)) throw conflict('group_exists', `a group named ${group.name} already exists`);
      this.#sql.write('INSERT INTO person_groups (name, created_at) VALUES (?, ?)', group.name, group.createdAt);
      for (const person of new Set(group.members)) this.#addMember(group.name, person, group.createdAt, badRequest);
    });
  }

  get(name: string): Group | null {
    const row = this.#sql.get('SELECT * FROM person_groups WHERE name = ?', name);
    return row ? { name: String(row.name), members: this.#members(name), createdAt: num(row.created_at) } : null;
  }

  list(): Group[] {
    const members = new Map<string, string[]>();
    for (const r of this.#sql.all('SELECT group_name, person FROM group_members ORDER BY group_name, person')) {
      const list = members.get(String(r.group_name)) ?? [];
      list.push(String(r.person));
      members.set(String(r.group_name), list);
    }
    return this.#sql.all('SELECT * FROM person_groups ORDER BY name').map((r) => ({ name: String(r.name), members: members.get(String(r.name)) ?? [], createdAt: num(r.created_at) }));
  }

  groupsOf(person: string): string[] {
    return this.#sql.all('SELECT group_name FROM group_members WHERE person = ? ORDER BY group_name', person).map((r) => String(r.group_name));
  }

  addMember(name: string, person: string, now: number): boolean {
    return this.#sql.transaction(() => {
      if (!this.#sql.get('SELECT 1 FROM person_groups WHERE name = ?', name)) throw notFound('group_not_found', `no group named ${name}`);
      return this.#addMember(name, person, now, notFound);
    });
  }

  removeMember(name: string, person: string): boolean {
    return this.#sql.write('DELETE FROM group_members WHERE group_name = ? AND person = ?', name, person) === 1;
  }

  /** `unknown` makes the refusal of an unknown person: a bad request body, or a path naming no one. */
  #addMember(name: string, person: string, now: number, unknown: typeof notFound): boolean {
    if (!this.#sql.get('SELECT 1 FROM people WHERE id = ?', person)) throw unknown('person_not_found', `no person with id ${person}`);
    return this.#sql.write('INSERT OR IGNORE INTO group_members (group_name, person, added_at) VALUES (?, ?, ?)', name, person, now) === 1;
  }

  #members(name: string): string[] {
    return this.#sql.all('SELECT person FROM group_members WHERE group_name = ? ORDER BY person', name).map((r) => String(r.person));
  }
}
