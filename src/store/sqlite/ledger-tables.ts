// The audit ledger in SQLite: the events (their ledger entries and leaf hashes), the
// tree hashes above the leaves that tlog-tiles serves (levels ≥ 1; level 0 is the
// events' own hash column), the tree's right edge, and the signed checkpoints. Every
// method here runs inside the store's transaction or as one statement: the hashes of
// an event are committed with it, or neither is.
import { entryLeafHash, ledgerEntry } from '../../audit/entry.ts';
import type { AuditEvent } from '../../audit/event.ts';
import { ledgerError } from '../../audit/ledger-error.ts';
import { hashMissing, type HashPosition } from '../../audit/merkle/hash-store.ts';
import { IncrementalTree } from '../../audit/merkle/incremental-tree.ts';
import type { StoredCheckpoint } from '../types.ts';
import { num, type Row } from './rows.ts';
import type { TableSql } from './table-sql.ts';

/** The statements of the store that owns the connection. */
export type Sql = Pick<TableSql, 'get' | 'all' | 'write'>;

export interface AppendedEntry {
  seq: number;
  /** The leaf hash, hex. */
  hash: string;
}

export class LedgerTables {
  readonly #sql: Sql;

  constructor(sql: Sql) {
    this.#sql = sql;
  }

  /** The tree as committed. Fails closed when its state and the events disagree. */
  loadTree(): IncrementalTree {
    const row = this.#sql.get('SELECT size, edge FROM audit_tree WHERE id = 1');
    const tree = row ? IncrementalTree.restore(row.edge as Uint8Array) : IncrementalTree.empty();
    if (row && num(row.size) !== tree.size) throw ledgerError('tree_state_malformed', `the audit tree row says ${num(row.size)} entries, its right edge ${tree.size}`);
    const last = num(this.#sql.get('SELECT COALESCE(MAX(seq), 0) AS seq FROM audit_events')?.seq ?? 0);
    if (last !== tree.size) {
      throw ledgerError('tree_state_malformed', `the audit tree covers ${tree.size} events, the log holds ${last}: run \`mandate audit verify\``);
    }
    return tree;
  }

  /** Appends one event as the next leaf; the caller persists the tree with saveTree() before committing. */
  append(tree: IncrementalTree, event: AuditEvent): AppendedEntry {
    const seq = tree.size + 1;
    const entry = ledgerEntry(seq, event);
    const leaf = entryLeafHash(entry);
    const stored = tree.append(leaf);
    const hash = leaf.toString('hex');
    this.#sql.write('INSERT INTO audit_events (seq, time, kind, event, hash) VALUES (?, ?, ?, ?, ?)', seq, event.time, event.kind, entry, hash);
    for (let i = 1; i < stored.length; i++) {
      const { level, index, hash: node } = stored[i] as (typeof stored)[number];
      this.#sql.write('INSERT INTO audit_hashes (level, idx, hash) VALUES (?, ?, ?)', level, index, node);
    }
    return { seq, hash };
  }

  saveTree(tree: IncrementalTree): void {
    this.#sql.write('INSERT INTO audit_tree (id, size, edge) VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE SET size = excluded.size, edge = excluded.edge', tree.size, tree.state());
  }

  /**
   * Brings events written before the ledger existed into it: each becomes its ledger
   * entry (the event with its seq) under its leaf hash, and the tree is built over
   * them. Nothing to do once the tree covers every event.
   */
  adoptEarlierEvents(): number {
    const row = this.#sql.get('SELECT size FROM audit_tree WHERE id = 1');
    if (row) return 0;
    // Ledger entries without a tree state: the state was removed, not never made. Nothing
    // is rebuilt over them (that would launder the change); appends refuse, verify says why.
    const first = this.#sql.get('SELECT event FROM audit_events ORDER BY seq LIMIT 1');
    if (first && String(first.event).startsWith('{"seq":')) return 0;
    const rows = this.#sql.all('SELECT seq, event FROM audit_events ORDER BY seq');
    const tree = IncrementalTree.empty();
    for (const r of rows) {
      const seq = num(r.seq);
      if (seq !== tree.size + 1) throw ledgerError('tree_state_malformed', `the audit log jumps from event ${tree.size} to ${seq}: it cannot be brought into the ledger`);
      const { seq: _old, ...event } = JSON.parse(String(r.event)) as AuditEvent & { seq?: number };
      const entry = ledgerEntry(seq, event);
      const leaf = entryLeafHash(entry);
      const stored = tree.append(leaf);
      this.#sql.write('UPDATE audit_events SET event = ?, hash = ? WHERE seq = ?', entry, leaf.toString('hex'), seq);
      for (const { level, index, hash } of stored.slice(1)) this.#sql.write('INSERT INTO audit_hashes (level, idx, hash) VALUES (?, ?, ?)', level, index, hash);
    }
    this.saveTree(tree);
    return rows.length;
  }

  readHashes(positions: readonly HashPosition[]): Uint8Array[] {
    // Positions come in runs (a tile, the hashes under one node): one range read per run.
    const out: Uint8Array[] = new Array(positions.length);
    for (let i = 0; i < positions.length; ) {
      const { level, index } = positions[i] as HashPosition;
      let j = i + 1;
      while (j < positions.length && (positions[j] as HashPosition).level === level && (positions[j] as HashPosition).index === index + (j - i)) j++;
      const last = index + (j - i) - 1;
      const rows = level === 0
        ? this.#sql.all('SELECT seq - 1 AS idx, hash FROM audit_events WHERE seq BETWEEN ? AND ? ORDER BY seq', index + 1, last + 1)
        : this.#sql.all('SELECT idx, hash FROM audit_hashes WHERE level = ? AND idx BETWEEN ? AND ? ORDER BY idx', level, index, last);
      for (let k = 0; k < j - i; k++) {
        const r = rows[k];
        if (!r || num(r.idx) !== index + k) throw hashMissing(level, index + k);
        out[i + k] = level === 0 ? Buffer.from(String(r.hash), 'hex') : (r.hash as Uint8Array);
      }
      i = j;
    }
    return out;
  }

  readEntries(start: number, end: number): string[] {
    if (end <= start) return [];
    return this.#sql.all('SELECT event FROM audit_events WHERE seq > ? AND seq <= ? ORDER BY seq', start, end).map((r) => String(r.event));
  }

  addCheckpoint({ size, time, note }: StoredCheckpoint): void {
    this.#sql.write('INSERT INTO audit_checkpoints (size, time, note) VALUES (?, ?, ?) ON CONFLICT (size) DO NOTHING', size, time, note);
  }

  latestCheckpoint(): StoredCheckpoint | null {
    const row = this.#sql.get('SELECT size, time, note FROM audit_checkpoints ORDER BY size DESC LIMIT 1');
    return row ? toCheckpoint(row) : null;
  }

  listCheckpoints(afterSize: number, limit: number): StoredCheckpoint[] {
    return this.#sql.all('SELECT size, time, note FROM audit_checkpoints WHERE size > ? ORDER BY size LIMIT ?', afterSize, limit).map(toCheckpoint);
  }
}

const toCheckpoint = (r: Row): StoredCheckpoint => ({ size: num(r.size), time: num(r.time), note: String(r.note) });
