// Versioned schema for the embedded SQLite store. Append new versions; never edit
// one that has shipped.
export const MIGRATIONS: ReadonlyArray<{ version: number; name: string; sql: string }> = [
  {
    version: 1,
    name: 'core: people, agents, servers, mandates, keys, identity providers',
    sql: `
      CREATE TABLE people (
        id TEXT PRIMARY KEY,
        email TEXT,
        name TEXT,
        status TEXT NOT NULL CHECK (status IN ('active', 'deactivated')),
        issuer TEXT,
        subject TEXT,
        created_at INTEGER NOT NULL
      );
      CREATE UNIQUE INDEX people_issuer_subject ON people (issuer, subject) WHERE issuer IS NOT NULL;

      CREATE TABLE agents (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        spiffe_id TEXT NOT NULL UNIQUE,
        owner TEXT NOT NULL REFERENCES people (id),
        purpose TEXT NOT NULL,
        environment TEXT NOT NULL CHECK (environment IN ('dev', 'staging', 'prod')),
        status TEXT NOT NULL CHECK (status IN ('active', 'suspended', 'retired')),
        review_due INTEGER,
        keys TEXT NOT NULL DEFAULT '[]',
        created_at INTEGER NOT NULL,
        enrolled_at INTEGER
      );
      CREATE INDEX agents_owner ON agents (owner);

      CREATE TABLE enrollment_tokens (
        token_hash TEXT PRIMARY KEY,
        agent_id TEXT NOT NULL REFERENCES agents (id),
        expires_at INTEGER NOT NULL,
        used_at INTEGER
      );

      CREATE TABLE servers (
        name TEXT PRIMARY KEY,
        upstream TEXT NOT NULL,
        created_at INTEGER NOT NULL
      );

      CREATE TABLE tools (
        server TEXT NOT NULL REFERENCES servers (name),
        name TEXT NOT NULL,
        sensitivity TEXT NOT NULL,
        effect TEXT NOT NULL,
        egress TEXT NOT NULL,
        labelled INTEGER NOT NULL,
        first_seen INTEGER NOT NULL,
        PRIMARY KEY (server, name)
      );

      CREATE TABLE mandates (
        id TEXT PRIMARY KEY,
        grantor TEXT NOT NULL REFERENCES people (id),
        agent_id TEXT NOT NULL REFERENCES agents (id),
        parent_id TEXT REFERENCES mandates (id),
        purpose TEXT NOT NULL,
        scope TEXT NOT NULL,
        not_before INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        max_calls INTEGER,
        calls_used INTEGER NOT NULL DEFAULT 0,
        state TEXT NOT NULL CHECK (state IN ('active', 'completed', 'revoked', 'expired')),
        reason TEXT,
        created_at INTEGER NOT NULL,
        ended_at INTEGER
      );
      CREATE INDEX mandates_agent ON mandates (agent_id, state);
      CREATE INDEX mandates_grantor ON mandates (grantor, state);
      CREATE INDEX mandates_active_expiry ON mandates (expires_at) WHERE state = 'active';

      CREATE TABLE signing_keys (
        kid TEXT PRIMARY KEY,
        alg TEXT NOT NULL,
        public_jwk TEXT NOT NULL,
        private_jwk TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('next', 'current', 'retiring')),
        created_at INTEGER NOT NULL,
        retire_after INTEGER
      );

      CREATE TABLE identity_providers (
        name TEXT PRIMARY KEY,
        issuer TEXT NOT NULL UNIQUE,
        audience TEXT NOT NULL,
        jwks_uri TEXT NOT NULL,
        subject_claim TEXT NOT NULL,
        created_at INTEGER NOT NULL
      );

      CREATE TABLE admin_credentials (
        hash TEXT PRIMARY KEY,
        created_at INTEGER NOT NULL
      );

      CREATE TABLE revoked_tokens (
        jti TEXT PRIMARY KEY,
        expires_at INTEGER NOT NULL
      );
    `,
  },
  {
    version: 2,
    name: 'audit log: hash-chained events',
    sql: `
      CREATE TABLE audit_events (
        seq INTEGER PRIMARY KEY,
        time INTEGER NOT NULL,
        kind TEXT NOT NULL,
        event TEXT NOT NULL,
        hash TEXT NOT NULL
      );
      CREATE INDEX audit_events_time ON audit_events (time);
    `,
  },
  {
    version: 3,
    name: 'servers: when their tools were first discovered',
    sql: `ALTER TABLE servers ADD COLUMN discovered_at INTEGER;`,
  },
  {
    version: 4,
    name: 'servers: the environment they serve',
    sql: `ALTER TABLE servers ADD COLUMN environment TEXT;`,
  },
  {
    version: 5,
    name: 'audit events: no time index (nothing reads by time; each append wrote one more page)',
    sql: `DROP INDEX IF EXISTS audit_events_time;`,
  },
  {
    version: 6,
    name: 'audit ledger: the Merkle tree over the events (hashes above the leaves, right edge) and signed checkpoints',
    // audit_events.hash becomes the leaf hash and audit_events.event the ledger entry
    // (the event with its seq); rows written before are rewritten when the store opens.
    sql: `
      CREATE TABLE audit_tree (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        size INTEGER NOT NULL,
        edge BLOB NOT NULL
      );
      CREATE TABLE audit_hashes (
        level INTEGER NOT NULL,
        idx INTEGER NOT NULL,
        hash BLOB NOT NULL,
        PRIMARY KEY (level, idx)
      ) WITHOUT ROWID;
      CREATE TABLE audit_checkpoints (
        size INTEGER PRIMARY KEY,
        time INTEGER NOT NULL,
        note TEXT NOT NULL
      );
    `,
  },
  {
    version: 7,
    name: 'mandates: delegation chains (depth, the delegating agents, who ended it) and a parent index for cascading revocation',
    sql: `
      ALTER TABLE mandates ADD COLUMN depth INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE mandates ADD COLUMN chain TEXT NOT NULL DEFAULT '[]';
      ALTER TABLE mandates ADD COLUMN ended_by TEXT;
      CREATE INDEX mandates_parent ON mandates (parent_id) WHERE parent_id IS NOT NULL;
    `,
  },
  {
    version: 8,
    name: 'credentials: sealed secrets bound to servers, each with its data key wrapped by a key-encryption key',
    // The key-encryption key is never stored: kek_id only names the one a data key is wrapped with.
    sql: `
      CREATE TABLE credentials (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        server TEXT NOT NULL REFERENCES servers (name),
        kind TEXT NOT NULL CHECK (kind IN ('header', 'env')),
        target TEXT NOT NULL,
        format TEXT,
        sealed BLOB NOT NULL,
        wrapped_key BLOB NOT NULL,
        kek_id TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        rotated_at INTEGER,
        rewrapped_at INTEGER,
        UNIQUE (server, kind, target)
      );
    `,
  },
  {
    version: 9,
    name: 'approvals: a person\'s yes or no on one exact action, at most one pending per action digest',
    sql: `
      CREATE TABLE approvals (
        id TEXT PRIMARY KEY,
        digest TEXT NOT NULL,
        binding TEXT NOT NULL,
        mandate_id TEXT NOT NULL REFERENCES mandates (id),
        initiator TEXT NOT NULL,
        approvers TEXT NOT NULL,
        policies TEXT NOT NULL,
        preview TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'denied', 'expired', 'used')),
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        decided_at INTEGER,
        decided_by TEXT,
        note TEXT,
        usable_until INTEGER,
        repeat_until INTEGER,
        max_uses INTEGER NOT NULL,
        uses INTEGER NOT NULL DEFAULT 0,
        used_at INTEGER
      );
      CREATE UNIQUE INDEX approvals_pending_digest ON approvals (digest) WHERE state = 'pending';
      CREATE INDEX approvals_approved_digest ON approvals (digest) WHERE state = 'approved';
      CREATE INDEX approvals_pending_expiry ON approvals (expires_at) WHERE state = 'pending';
      CREATE INDEX approvals_mandate ON approvals (mandate_id, created_at);
      CREATE INDEX approvals_created ON approvals (created_at);
    `,
  },
  {
    version: 10,
    name: 'agents: their sponsor; the embedded group directory (groups and their members)',
    sql: `
      ALTER TABLE agents ADD COLUMN sponsor TEXT REFERENCES people (id);
      CREATE TABLE person_groups (
        name TEXT PRIMARY KEY,
        created_at INTEGER NOT NULL
      );
      CREATE TABLE group_members (
        group_name TEXT NOT NULL REFERENCES person_groups (name),
        person TEXT NOT NULL REFERENCES people (id),
        added_at INTEGER NOT NULL,
        PRIMARY KEY (group_name, person)
      ) WITHOUT ROWID;
      CREATE INDEX group_members_person ON group_members (person);
    `,
  },
  {
    version: 11,
    name: 'task flows: what has flowed in each task (kept under its root mandate): highest sensitivity, untrusted content seen, tools called, external destinations',
    sql: `
      CREATE TABLE task_flows (
        task TEXT PRIMARY KEY REFERENCES mandates (id),
        max_sensitivity_level INTEGER NOT NULL CHECK (max_sensitivity_level BETWEEN 0 AND 3),
        untrusted INTEGER NOT NULL CHECK (untrusted IN (0, 1)),
        updated_at INTEGER NOT NULL
      );
      CREATE TABLE task_flow_entries (
        task TEXT NOT NULL REFERENCES task_flows (task),
        kind TEXT NOT NULL CHECK (kind IN ('tool', 'destination')),
        entry TEXT NOT NULL,
        PRIMARY KEY (task, kind, entry)
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 12,
    name: 'approvals: the latest denial of an action digest found by index (the quiet period after a denial)',
    sql: `
      CREATE INDEX approvals_denied_digest ON approvals (digest, decided_at) WHERE state = 'denied';
    `,
  },
];
