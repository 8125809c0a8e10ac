// The embedded store: one SQLite file under the data directory, WAL journal.
// synchronous=NORMAL (the default) puts every commit in the WAL file before it is
// acknowledged, so it survives the process being killed (kill -9, a crash); a power
// loss can drop the last commits. synchronous=FULL also syncs the WAL to disk on
// every commit and survives power loss, at a cost (MANDATE_SQLITE_SYNCHRONOUS=full).
import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';
import { conflict } from '../../errors.ts';
import type { JWK } from '../../identity/jwk.ts';
import type { AuditEvent, StoredAuditEvent } from '../../audit/event.ts';
import type { HashPosition } from '../../audit/merkle/hash-store.ts';
import type { IncrementalTree } from '../../audit/merkle/incremental-tree.ts';
import type {
  Agent, AgentStatus, AuditEntry, AuditTreeHead, CallCount, EnrollmentGrant, EnrollmentResult, IdentityProvider, Mandate, MandateFilter, MandateState,
  MandateSelector, Person, PersonStatus, Server, SigningKey, StoredCheckpoint, Store, Tool,
} from '../types.ts';
import type { CredentialRewrap, SealedCredential } from '../types.ts';
import type { Approval, ApprovalFilter } from '../../approvals/types.ts';
import type { ApprovalDecision, ApprovalUse } from '../types.ts';
import { ApprovalTables } from './approval-tables.ts';
import type { Group } from '../types.ts';
import { GroupTables } from './group-tables.ts';
import { CredentialTables } from './credential-tables.ts';
import { LedgerTables } from './ledger-tables.ts';
import type { TaskFlow } from '../../delegation/task-flow.ts';
import { TaskFlowTables } from './task-flow-tables.ts';
import { DirectoryTables } from './directory-tables.ts';
import { MandateTables } from './mandate-tables.ts';
import { MIGRATIONS } from './migrations.ts';
import type { TableSql } from './table-sql.ts';
import {
  isUniqueViolation, json, num, numOrNull, parse, toProvider, toSigningKey, type Row,
} from './rows.ts';

/** How hard a commit is pushed to disk before it is acknowledged (see the header). */
export type SqliteSynchronous = 'normal' | 'full';

const toAuditEvent = (r: Row): StoredAuditEvent => ({ ...parse<AuditEvent>(r.event), seq: num(r.seq), hash: String(r.hash) });

export class SqliteStore implements Store {
  readonly kind = 'sqlite' as const;
  readonly #db: DatabaseSync;
  /** Prepared once per SQL text: preparing costs more than running these small statements. */
  readonly #statements = new Map<string, StatementSync>();
  /**
   * What the gateway reads on every request (mandates, agents, people, servers, tools,
   * revoked token ids), kept in memory. Every write of this process drops it (the
   * call-count update drops only its mandate), and so does a commit by any other
   * connection, seen through `PRAGMA data_version`: nothing remembered outlives a change.
   */
  readonly #memo = new Map<string, unknown>();
  #memoVersion = -1;
  readonly #ledger: LedgerTables;
  readonly #credentials: CredentialTables;
  readonly #approvals: ApprovalTables;
  readonly #groups: GroupTables;
  readonly #flows: TaskFlowTables;
  readonly #mandates: MandateTables;
  readonly #directory: DirectoryTables;
  #tree: IncrementalTree | null = null;
  #treeVersion = -1;
  #memoChecked = false;

  constructor(path: string, options: { synchronous?: SqliteSynchronous } = {}) {
    this.#db = new DatabaseSync(path);
    const synchronous = options.synchronous === 'full' ? 'FULL' : 'NORMAL';
    this.#db.exec(`PRAGMA journal_mode = WAL; PRAGMA synchronous = ${synchronous}; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;`);
    this.#migrate();
    // One lending of the store's statements, transaction and memory, for every tables module.
    const sql: TableSql = {
      get: (text, ...p) => this.#get(text, ...p), all: (text, ...p) => this.#all(text, ...p),
      run: (text, ...p) => this.#run(text, ...p), write: (text, ...p) => this.#write(text, ...p),
      transaction: (work) => this.#transaction(work), remember: (key, read) => this.#remember(key, read),
      recall: (key) => this.#memo.get(key), keep: (key, value) => void this.#memo.set(key, value), forget: (key) => void this.#memo.delete(key),
    };
    this.#ledger = new LedgerTables(sql);
    this.#transaction(() => this.#ledger.adoptEarlierEvents());
    this.#credentials = new CredentialTables(sql);
    this.#approvals = new ApprovalTables(sql);
    this.#groups = new GroupTables(sql);
    this.#flows = new TaskFlowTables(sql);
    this.#directory = new DirectoryTables(sql);
    this.#mandates = new MandateTables(sql);
  }

  #migrate(): void {
    this.#db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
    const applied = new Set(this.#all('SELECT version FROM schema_migrations').map((r) => num(r.version)));
    for (const migration of MIGRATIONS) {
      if (applied.has(migration.version)) continue;
      this.#transaction(() => {
        this.#db.exec(migration.sql);
        this.#run('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)', migration.version, migration.name, Math.floor(Date.now() / 1000));
      });
    }
  }

  get schemaVersion(): number {
    return num(this.#get('SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations')?.v ?? 0);
  }

  #statement(sql: string): StatementSync {
    let statement = this.#statements.get(sql);
    if (!statement) {
      statement = this.#db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }
  #all(sql: string, ...params: SQLInputValue[]): Row[] {
    return this.#statement(sql).all(...params) as Row[];
  }
  #get(sql: string, ...params: SQLInputValue[]): Row | undefined {
    return this.#statement(sql).get(...params) as Row | undefined;
  }
  /** A write: whatever is remembered may have changed. */
  #run(sql: string, ...params: SQLInputValue[]): number {
    this.#memo.clear();
    return this.#write(sql, ...params);
  }
  /** A write that changes nothing remembered (or forgets what it changes itself). */
  #write(sql: string, ...params: SQLInputValue[]): number {
    return Number(this.#statement(sql).run(...params).changes);
  }
  #transaction<T>(work: () => T): T {
    this.#statement('BEGIN IMMEDIATE').run();
    try {
      const result = work();
      this.#statement('COMMIT').run();
      return result;
    } catch (error) {
      if (this.#db.isTransaction) this.#statement('ROLLBACK').run();
      this.#memo.clear();
      throw error;
    }
  }
  #remember<T>(key: string, read: () => T): T {
    // Another connection's commits are looked for once per turn of the event loop.
    if (!this.#memoChecked) {
      this.#memoChecked = true;
      setImmediate(() => {
        this.#memoChecked = false;
      });
      const version = Number(this.#get('PRAGMA data_version')?.data_version);
      if (version !== this.#memoVersion) {
        this.#memo.clear();
        this.#memoVersion = version;
      }
    }
    if (this.#memo.has(key)) return this.#memo.get(key) as T;
    const value = read();
    if (value !== null && typeof value === 'object') Object.freeze(value);
    if (this.#memo.size >= 10_000) this.#memo.clear();
    this.#memo.set(key, value);
    return value;
  }

  async close(): Promise<void> {
    if (this.#db.isOpen) this.#db.close();
  }

  async ping(): Promise<void> {
    this.#get('SELECT 1');
  }

  // People (see directory-tables.ts)

  async createPerson(p: Person): Promise<void> {
    return this.#directory.createPerson(p);
  }

  async getPerson(id: string): Promise<Person | null> {
    return this.#directory.getPerson(id);
  }

  async listPeople(): Promise<Person[]> {
    return this.#directory.listPeople();
  }

  async setPersonStatus(id: string, status: PersonStatus): Promise<Person | null> {
    return this.#directory.setPersonStatus(id, status);
  }

  async ensureExternalPerson(p: Person): Promise<Person> {
    return this.#directory.ensureExternalPerson(p);
  }

  // Agents (see directory-tables.ts)

  async createAgent(a: Agent, enrollment: EnrollmentGrant): Promise<void> {
    return this.#directory.createAgent(a, enrollment);
  }

  async getAgent(id: string): Promise<Agent | null> {
    return this.#directory.getAgent(id);
  }

  async getAgentBySpiffeId(spiffeId: string): Promise<Agent | null> {
    return this.#directory.getAgentBySpiffeId(spiffeId);
  }

  async listAgents(filter: { owner?: string } = {}): Promise<Agent[]> {
    return this.#directory.listAgents(filter);
  }

  async setAgentStatus(id: string, status: AgentStatus): Promise<Agent | null> {
    return this.#directory.setAgentStatus(id, status);
  }

  async enrollAgent(tokenHash: string, key: JWK, now: number): Promise<EnrollmentResult> {
    return this.#directory.enrollAgent(tokenHash, key, now);
  }

  // Groups (never remembered: see group-tables.ts)

  async createGroup(group: Group): Promise<void> {
    this.#groups.create(group);
  }

  async getGroup(name: string): Promise<Group | null> {
    return this.#groups.get(name);
  }

  async listGroups(): Promise<Group[]> {
    return this.#groups.list();
  }

  async groupsOf(person: string): Promise<string[]> {
    return this.#groups.groupsOf(person);
  }

  async addGroupMember(name: string, person: string, now: number): Promise<boolean> {
    return this.#groups.addMember(name, person, now);
  }

  async removeGroupMember(name: string, person: string): Promise<boolean> {
    return this.#groups.removeMember(name, person);
  }

  // Servers and tools (see directory-tables.ts)

  async createServer(server: Server, tools: Tool[]): Promise<void> {
    return this.#directory.createServer(server, tools);
  }

  async getServer(name: string): Promise<Server | null> {
    return this.#directory.getServer(name);
  }

  async listServers(): Promise<Server[]> {
    return this.#directory.listServers();
  }

  async listTools(server: string): Promise<Tool[]> {
    return this.#directory.listTools(server);
  }

  async discoverTools(server: string, names: string[], now: number, listingStartedAt: number = now): Promise<Tool[]> {
    return this.#directory.discoverTools(server, names, now, listingStartedAt);
  }

  // Mandates (see mandate-tables.ts)

  async createMandate(m: Mandate): Promise<void> {
    this.#mandates.create(m);
  }

  async getMandate(id: string): Promise<Mandate | null> {
    return this.#mandates.get(id);
  }

  async listMandates(filter: MandateFilter = {}): Promise<Mandate[]> {
    return this.#mandates.list(filter);
  }

  async endMandate(id: string, state: Exclude<MandateState, 'active'>, reason: string | null, now: number, by: string | null = null): Promise<Mandate | null> {
    const ended = this.#mandates.end({ id }, state, reason, now, by);
    return ended[0] === id ? this.#mandates.get(id) : null;
  }

  async endMandatesOf(filter: { agentId: string } | { grantor: string }, state: 'revoked', reason: string | null, now: number, by: string | null = null): Promise<string[]> {
    return this.#mandates.end(filter, state, reason, now, by);
  }

  async endMandates(selector: MandateSelector, state: Exclude<MandateState, 'active'>, reason: string | null, now: number, by: string | null = null): Promise<string[]> {
    return this.#mandates.end(selector, state, reason, now, by);
  }

  async consumeCall(id: string, now: number): Promise<CallCount> {
    return this.#transaction(() => this.#mandates.countCall(id, now));
  }

  async expireMandates(now: number): Promise<string[]> {
    return this.#mandates.expire(now);
  }

  // Signing keys

  async listSigningKeys(): Promise<SigningKey[]> {
    return this.#all('SELECT * FROM signing_keys ORDER BY created_at, kid').map(toSigningKey);
  }

  async addSigningKey(k: SigningKey): Promise<void> {
    this.#run('INSERT INTO signing_keys (kid, alg, public_jwk, private_jwk, state, created_at, retire_after) VALUES (?, ?, ?, ?, ?, ?, ?)', k.kid, k.alg, json(k.publicJwk), json(k.privateJwk), k.state, k.createdAt, k.retireAfter);
  }

  async rotateSigningKeys(newNext: SigningKey, retireAfter: number, now: number): Promise<void> {
    this.#transaction(() => {
      this.#run("DELETE FROM signing_keys WHERE state = 'retiring' AND retire_after < ?", now);
      this.#run("UPDATE signing_keys SET state = 'retiring', retire_after = ? WHERE state = 'current'", retireAfter);
      this.#run("UPDATE signing_keys SET state = 'current' WHERE state = 'next'");
      this.#run('INSERT INTO signing_keys (kid, alg, public_jwk, private_jwk, state, created_at, retire_after) VALUES (?, ?, ?, ?, ?, ?, NULL)', newNext.kid, newNext.alg, json(newNext.publicJwk), json(newNext.privateJwk), 'next', newNext.createdAt);
    });
  }

  // Identity providers

  async addIdentityProvider(p: IdentityProvider): Promise<void> {
    try {
      this.#run('INSERT INTO identity_providers (name, issuer, audience, jwks_uri, subject_claim, created_at) VALUES (?, ?, ?, ?, ?, ?)', p.name, p.issuer, p.audience, p.jwksUri, p.subjectClaim, p.createdAt);
    } catch (error) {
      if (isUniqueViolation(error)) throw conflict('identity_provider_exists', `an identity provider named ${p.name} or with issuer ${p.issuer} already exists`);
      throw error;
    }
  }

  async listIdentityProviders(): Promise<IdentityProvider[]> {
    return this.#all('SELECT * FROM identity_providers ORDER BY name').map(toProvider);
  }

  async removeIdentityProvider(name: string): Promise<boolean> {
    return this.#run('DELETE FROM identity_providers WHERE name = ?', name) === 1;
  }

  // Audit log

  async appendAuditEvents(entries: AuditEntry[]): Promise<StoredAuditEvent[]> {
    // The tree is kept in memory between appends, and read afresh when another
    // connection has committed since (seen under the write lock, so never stale) or
    // when an append failed (its transaction rolled back what the tree took in).
    try {
      return this.#transaction(() => {
        const version = Number(this.#get('PRAGMA data_version')?.data_version);
        if (version !== this.#treeVersion) this.#tree = null;
        this.#treeVersion = version;
        const tree = (this.#tree ??= this.#ledger.loadTree());
        const stored = entries.map((entry) => {
          const event = 'countCall' in entry ? entry.event(this.#mandates.countCall(entry.countCall.mandateId, entry.countCall.now)) : entry;
          const { seq, hash } = this.#ledger.append(tree, event);
          return { ...event, seq, hash };
        });
        this.#ledger.saveTree(tree);
        return stored;
      });
    } catch (error) {
      this.#tree = null;
      throw error;
    }
  }

  async listAuditEvents(options: { afterSeq?: number; limit: number }): Promise<StoredAuditEvent[]> {
    const rows = options.afterSeq === undefined
      ? this.#all('SELECT * FROM (SELECT * FROM audit_events ORDER BY seq DESC LIMIT ?) ORDER BY seq', options.limit)
      : this.#all('SELECT * FROM audit_events WHERE seq > ? ORDER BY seq LIMIT ?', options.afterSeq, options.limit);
    return rows.map(toAuditEvent);
  }

  async getAuditEvent(seq: number): Promise<StoredAuditEvent | null> {
    const row = this.#get('SELECT * FROM audit_events WHERE seq = ?', seq);
    return row ? toAuditEvent(row) : null;
  }

  async auditTreeHead(): Promise<AuditTreeHead> {
    // Read from the committed state, not from the tree in memory, which may be ahead inside a transaction.
    const tree = this.#ledger.loadTree();
    return { size: tree.size, rootHash: tree.root() };
  }

  async readAuditHashes(positions: readonly HashPosition[]): Promise<Uint8Array[]> {
    return this.#ledger.readHashes(positions);
  }

  async listAuditRecords(options: { afterSeq: number; limit: number }): Promise<{ seq: number; entry: string; hash: string }[]> {
    return this.#all('SELECT seq, event, hash FROM audit_events WHERE seq > ? ORDER BY seq LIMIT ?', options.afterSeq, options.limit)
      .map((r) => ({ seq: num(r.seq), entry: String(r.event), hash: String(r.hash) }));
  }

  async auditTreeStateSize(): Promise<number | null> {
    return numOrNull(this.#get('SELECT size FROM audit_tree WHERE id = 1')?.size);
  }

  async readAuditEntries(start: number, end: number): Promise<string[]> {
    return this.#ledger.readEntries(start, end);
  }

  async addAuditCheckpoint(checkpoint: StoredCheckpoint): Promise<void> {
    this.#ledger.addCheckpoint(checkpoint);
  }

  async latestAuditCheckpoint(): Promise<StoredCheckpoint | null> {
    return this.#ledger.latestCheckpoint();
  }

  async listAuditCheckpoints(options: { afterSize?: number; limit: number }): Promise<StoredCheckpoint[]> {
    return this.#ledger.listCheckpoints(options.afterSize ?? 0, options.limit);
  }

  // Credentials (sealed)

  async createCredential(credential: SealedCredential): Promise<void> {
    this.#credentials.create(credential);
  }

  async getCredential(id: string): Promise<SealedCredential | null> {
    return this.#credentials.get(id);
  }

  async listCredentials(filter: { server?: string } = {}): Promise<SealedCredential[]> {
    return this.#credentials.list(filter.server);
  }

  async removeCredential(id: string): Promise<boolean> {
    return this.#credentials.remove(id);
  }

  async replaceCredentialSecret(id: string, sealed: Pick<SealedCredential, 'sealed' | 'wrappedKey' | 'kekId'>, now: number): Promise<SealedCredential | null> {
    return this.#credentials.replaceSecret(id, sealed, now);
  }

  async rewrapCredentialKeys(rewraps: readonly CredentialRewrap[], now: number): Promise<void> {
    this.#credentials.rewrap(rewraps, now);
  }

  // Task flows

  async getTaskFlow(mandateId: string): Promise<TaskFlow | null> {
    return this.#flows.get(mandateId);
  }

  async mergeTaskFlow(mandateId: string, flow: TaskFlow, now: number): Promise<TaskFlow> {
    return this.#flows.merge(mandateId, flow, now);
  }

  async forgetTaskFlows(mandateIds: readonly string[]): Promise<number> {
    return this.#flows.forget(mandateIds);
  }

  // Admin credentials and revoked tokens

  async addAdminCredential(hash: string, now: number): Promise<void> {
    this.#run('INSERT OR IGNORE INTO admin_credentials (hash, created_at) VALUES (?, ?)', hash, now);
  }

  async isAdminCredential(hash: string): Promise<boolean> {
    return this.#get('SELECT 1 FROM admin_credentials WHERE hash = ?', hash) !== undefined;
  }

  async revokeTokenId(jti: string, expiresAt: number): Promise<void> {
    this.#run('INSERT OR REPLACE INTO revoked_tokens (jti, expires_at) VALUES (?, ?)', jti, expiresAt);
  }

  async isTokenIdRevoked(jti: string, now: number): Promise<boolean> {
    const until = this.#remember(`revoked:${jti}`, () => numOrNull(this.#get('SELECT expires_at FROM revoked_tokens WHERE jti = ?', jti)?.expires_at));
    return until !== null && until >= now;
  }

  // Approvals (never remembered: see approval-tables.ts)

  async createApproval(approval: Approval): Promise<void> {
    this.#approvals.create(approval);
  }

  async getApproval(id: string): Promise<Approval | null> {
    return this.#approvals.get(id);
  }

  async listApprovals(filter: ApprovalFilter = {}): Promise<Approval[]> {
    return this.#approvals.list(filter);
  }

  async findDeniedApproval(digest: string, decidedAfter: number): Promise<Approval | null> {
    return this.#approvals.findDenied(digest, decidedAfter);
  }

  async findPendingApproval(digest: string, now: number): Promise<Approval | null> {
    return this.#approvals.findPending(digest, now);
  }

  async findUsableApproval(digest: string, now: number): Promise<Approval | null> {
    return this.#approvals.findUsable(digest, now);
  }

  async decideApproval(id: string, decision: 'approved' | 'denied', by: string, note: string | null, now: number, use: ApprovalUse): Promise<ApprovalDecision> {
    return this.#approvals.decide(id, decision, by, note, now, use);
  }

  async consumeApproval(digest: string, now: number): Promise<Approval | null> {
    return this.#approvals.consume(digest, now);
  }

  async expireApprovals(now: number): Promise<Approval[]> {
    return this.#approvals.expire(now);
  }
}
