// The directory in SQLite: people, agents (with their enrollment), and servers with
// their tools. What the gateway reads on every request (a person, an agent, a server,
// its tools) is remembered by the store; every write here forgets what is remembered.
import { conflict } from '../../errors.ts';
import type { JWK } from '../../identity/jwk.ts';
import type { Agent, AgentStatus, EnrollmentGrant, EnrollmentResult, Person, PersonStatus, Server, Tool } from '../types.ts';
import { isUniqueViolation, json, num, parse, toAgent, toPerson, toServer, toTool, type Row } from './rows.ts';
import type { TableSql } from './table-sql.ts';

/** The statements, transaction and memory of the store that owns the connection. */
export type DirectorySql = Pick<TableSql, 'get' | 'all' | 'run' | 'transaction' | 'remember'>;

export class DirectoryTables {
  readonly #sql: DirectorySql;

  constructor(sql: DirectorySql) {
    this.#sql = sql;
  }

  // People

  createPerson(p: Person): void {
    try {
      this.#sql.run('INSERT INTO people (id, email, name, status, issuer, subject, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)', p.id, p.email, p.name, p.status, p.issuer, p.subject, p.createdAt);
    } catch (error) {
      if (isUniqueViolation(error)) throw conflict('person_exists', `a person with id ${p.id} already exists`);
      throw error;
    }
  }

  getPerson(id: string): Person | null {
    return this.#sql.remember(`person:${id}`, () => {
      const row = this.#sql.get('SELECT * FROM people WHERE id = ?', id);
      return row ? toPerson(row) : null;
    });
  }

  listPeople(): Person[] {
    return this.#sql.all('SELECT * FROM people ORDER BY id').map(toPerson);
  }

  setPersonStatus(id: string, status: PersonStatus): Person | null {
    this.#sql.run('UPDATE people SET status = ? WHERE id = ?', status, id);
    return this.getPerson(id);
  }

  ensureExternalPerson(p: Person): Person {
    return this.#sql.transaction(() => {
      const existing = this.#sql.get('SELECT * FROM people WHERE issuer = ? AND subject = ?', p.issuer, p.subject);
      if (existing) return toPerson(existing);
      if (this.#sql.get('SELECT 1 FROM people WHERE id = ?', p.id)) throw conflict('person_exists', `person id ${p.id} is already taken by another identity`);
      this.#sql.run('INSERT INTO people (id, email, name, status, issuer, subject, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)', p.id, p.email, p.name, p.status, p.issuer, p.subject, p.createdAt);
      return p;
    });
  }

  // Agents

  createAgent(a: Agent, enrollment: EnrollmentGrant): void {
    try {
      this.#sql.transaction(() => {
        this.#sql.run(
          'INSERT INTO agents (id, name, spiffe_id, owner, sponsor, purpose, environment, status, review_due, keys, created_at, enrolled_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
          a.id, a.name, a.spiffeId, a.owner, a.sponsor ?? null, a.purpose, a.environment, a.status, a.reviewDue, json(a.keys), a.createdAt, a.enrolledAt,
        );
        this.#sql.run('INSERT INTO enrollment_tokens (token_hash, agent_id, expires_at) VALUES (?, ?, ?)', enrollment.tokenHash, enrollment.agentId, enrollment.expiresAt);
      });
    } catch (error) {
      if (isUniqueViolation(error)) throw conflict('agent_exists', `an agent named ${a.name} already exists`);
      throw error;
    }
  }

  getAgent(id: string): Agent | null {
    return this.#sql.remember(`agent:${id}`, () => {
      const row = this.#sql.get('SELECT * FROM agents WHERE id = ?', id);
      return row ? toAgent(row) : null;
    });
  }

  getAgentBySpiffeId(spiffeId: string): Agent | null {
    const row = this.#sql.get('SELECT * FROM agents WHERE spiffe_id = ?', spiffeId);
    return row ? toAgent(row) : null;
  }

  listAgents(filter: { owner?: string } = {}): Agent[] {
    const rows = filter.owner === undefined
      ? this.#sql.all('SELECT * FROM agents ORDER BY created_at, id')
      : this.#sql.all('SELECT * FROM agents WHERE owner = ? ORDER BY created_at, id', filter.owner);
    return rows.map(toAgent);
  }

  setAgentStatus(id: string, status: AgentStatus): Agent | null {
    this.#sql.run("UPDATE agents SET status = ? WHERE id = ? AND status <> 'retired'", status, id);
    return this.getAgent(id);
  }

  enrollAgent(tokenHash: string, key: JWK, now: number): EnrollmentResult {
    return this.#sql.transaction((): EnrollmentResult => {
      const grant = this.#sql.get('SELECT * FROM enrollment_tokens WHERE token_hash = ?', tokenHash);
      if (!grant) return { ok: false, reason: 'unknown' };
      if (grant.used_at !== null) return { ok: false, reason: 'used' };
      if (num(grant.expires_at) <= now) return { ok: false, reason: 'expired' };
      const agentId = String(grant.agent_id);
      const agent = this.#sql.get('SELECT * FROM agents WHERE id = ?', agentId);
      if (!agent || agent.status !== 'active') return { ok: false, reason: 'agent_not_active' };
      this.#sql.run('UPDATE enrollment_tokens SET used_at = ? WHERE token_hash = ?', now, tokenHash);
      const keys = [...parse<JWK[]>(agent.keys), key];
      this.#sql.run('UPDATE agents SET keys = ?, enrolled_at = ? WHERE id = ?', json(keys), now, agentId);
      return { ok: true, agent: toAgent(this.#sql.get('SELECT * FROM agents WHERE id = ?', agentId) as Row) };
    });
  }

  // Servers and tools

  createServer(server: Server, tools: Tool[]): void {
    try {
      this.#sql.transaction(() => {
        this.#sql.run('INSERT INTO servers (name, upstream, environment, created_at) VALUES (?, ?, ?, ?)', server.name, json(server.upstream), server.environment, server.createdAt);
        for (const t of tools) {
          this.#sql.run('INSERT INTO tools (server, name, sensitivity, effect, egress, labelled, first_seen) VALUES (?, ?, ?, ?, ?, ?, ?)', t.server, t.name, t.sensitivity, t.effect, t.egress, t.labelled ? 1 : 0, t.firstSeen);
        }
      });
    } catch (error) {
      if (isUniqueViolation(error)) throw conflict('server_exists', `a server named ${server.name} already exists`);
      throw error;
    }
  }

  getServer(name: string): Server | null {
    return this.#sql.remember(`server:${name}`, () => {
      const row = this.#sql.get('SELECT * FROM servers WHERE name = ?', name);
      return row ? toServer(row) : null;
    });
  }

  listServers(): Server[] {
    return this.#sql.all('SELECT * FROM servers ORDER BY name').map(toServer);
  }

  listTools(server: string): Tool[] {
    return this.#sql.remember(`tools:${server}`, () => this.#sql.all('SELECT * FROM tools WHERE server = ? ORDER BY name', server).map((row) => Object.freeze(toTool(row))));
  }

  discoverTools(server: string, names: string[], now: number, listingStartedAt: number = now): Tool[] {
    // Every tools/list comes through here: write (and sync) only when something is new.
    const known = this.listTools(server);
    const knownNames = new Set(known.map((t) => t.name));
    const discovered = this.#sql.get('SELECT discovered_at FROM servers WHERE name = ?', server)?.discovered_at;
    if (discovered !== undefined && discovered !== null && names.every((n) => knownNames.has(n))) return known;
    this.#sql.transaction(() => {
      const row = this.#sql.get('SELECT created_at, discovered_at FROM servers WHERE name = ?', server);
      if (!row) return;
      const firstListing = row.discovered_at === null || num(row.discovered_at) === listingStartedAt;
      const firstSeen = firstListing ? num(row.created_at) : now;
      for (const name of names) {
        this.#sql.run("INSERT OR IGNORE INTO tools (server, name, sensitivity, effect, egress, labelled, first_seen) VALUES (?, ?, 'confidential', 'write', 'external', 0, ?)", server, name, firstSeen);
      }
      if (row.discovered_at === null) this.#sql.run('UPDATE servers SET discovered_at = ? WHERE name = ?', listingStartedAt, server);
    });
    return this.listTools(server);
  }
}
