// Settings come from the environment (the public contract in ARCHITECTURE.md) over
// defaults. Durations are seconds.
import { resolve } from 'node:path';
import { MandateError } from './errors.ts';

export interface Config {
  dataDir: string;
  host: string;
  port: number;
  /** The issuer identifier and the origin clients use to reach this server. */
  publicUrl: string;
  trustDomain: string;
  databaseUrl: string | null;
  /** SQLite commit durability: `normal` survives a killed process, `full` also a power loss. */
  sqliteSynchronous: 'normal' | 'full';
  mandateDefaultTtl: number;
  mandateMaxTtl: number;
  taskTokenTtl: number;
  personTokenTtl: number;
  enrollmentTokenTtl: number;
  /** Longest lifetime accepted for a client assertion (exp − now). */
  clientAssertionMaxAge: number;
  dpopMaxAge: number;
  clockTolerance: number;
  /** A gateway session idle this long (nothing sent, nothing open) is ended with its upstream. */
  sessionIdle: number;
  /** The audit log's name in its checkpoints (and its key's name); fixed once the log has a key. Null: `<trust domain>/audit`. */
  auditOrigin: string | null;
  /** A checkpoint is signed at most this many seconds after the log grew… */
  auditCheckpointInterval: number;
  /** …or as soon as it grew by this many events. */
  auditCheckpointEntries: number;
  /** Group commit: the longest an audit append waits for others to share its commit, in ms (0: the next turn). */
  auditCommitDelayMs: number;
  /** A tool reply carrying a secret is refused instead of reaching the agent (docs/redaction.md). */
  blockSecretReplies: boolean;
  /** Once approved, how long the exact call may be made (docs/approvals.md). */
  approvalWindow: number;
  /** A pending approval nobody decided expires after this long. */
  approvalTtl: number;
  /** The longest "approve this and identical calls for N minutes" may run. */
  approvalMaxRepeat: number;
  /** The most uses one approval may be given. */
  approvalMaxUses: number;
  /** How long the gateway holds a call that needs approval before answering with the approval's id and URL. */
  approvalWait: number;
  /** After a denial, how long the same call is refused at once instead of asking again (0: it asks again at once). */
  approvalDenialQuiet: number;
  /** How often a held call that asked for progress is told it still waits for a person. */
  approvalProgressInterval: number;
  /** Where approval notifications are POSTed (Standard Webhooks), or null: none. */
  approvalWebhookUrl: string | null;
  /** The webhook's signing secret, `whsec_<base64>`; required with the URL. */
  approvalWebhookSecret: string | null;
  /** A failed notification is tried again after this many ms, then 4× and 16× as long. */
  approvalWebhookBackoffMs: number;
  /** The file holding the key-encryption key of credentials (MANDATE_KEK_FILE); null: MANDATE_KEK or `<data dir>/kek` (docs/credentials.md). */
  kekFile: string | null;
  /** The key-encryption key being replaced, accepted to unwrap only, during a rotation (MANDATE_KEK_PREVIOUS_FILE). */
  kekPreviousFile: string | null;
  /** How deep a mandate may be sub-delegated: 1 lets an agent delegate once, 0 not at all. */
  maxDelegationDepth: number;
  /** The PostgreSQL role provider, a role per mandate for the servers that take a lease (docs/dynamic-credentials.md); null: none. */
  postgres: PostgresConfig | null;
}

export interface PostgresConfig {
  /** MANDATE_PG_ADMIN_URL: a role with CREATEROLE. A secret: never logged, never passed to an upstream. */
  adminUrl: string;
  /** MANDATE_PG_DATABASE: the database the roles are for (null: the admin URL's). */
  database: string | null;
  /** MANDATE_PG_GRANTS: the grant templates, each a GRANT naming {role}. */
  grants: string[];
  /** MANDATE_PG_ROLE_PREFIX (null: `mandate_`). */
  rolePrefix: string | null;
}

export const DEFAULTS = {
  port: 8780,
  host: '127.0.0.1',
  dataDir: '.mandate',
  trustDomain: 'mandate.local',
  mandateDefaultTtl: 15 * 60,
  mandateMaxTtl: 8 * 60 * 60,
  taskTokenTtl: 5 * 60,
  personTokenTtl: 60 * 60,
  enrollmentTokenTtl: 15 * 60,
  clientAssertionMaxAge: 5 * 60,
  dpopMaxAge: 60,
  clockTolerance: 30,
  sessionIdle: 15 * 60,
  auditCheckpointInterval: 10,
  auditCheckpointEntries: 1000,
  auditCommitDelayMs: 0,
  approvalWindow: 5 * 60,
  approvalTtl: 15 * 60,
  approvalMaxRepeat: 60 * 60,
  approvalMaxUses: 100,
  approvalWait: 60,
  approvalDenialQuiet: 15 * 60,
  approvalProgressInterval: 15,
  approvalWebhookBackoffMs: 1000,
} as const;

type ApprovalConfig = Pick<Config, 'approvalWindow' | 'approvalTtl' | 'approvalMaxRepeat' | 'approvalMaxUses' | 'approvalWait' | 'approvalDenialQuiet' | 'approvalProgressInterval' | 'approvalWebhookUrl' | 'approvalWebhookSecret' | 'approvalWebhookBackoffMs'>;

/** A Standard Webhooks secret: `whsec_` and 24 to 64 random bytes in base64. */
const WEBHOOK_SECRET = /^whsec_[A-Za-z0-9+/]+={0,2}$/;

function approvalConfig(env: NodeJS.ProcessEnv, overrides: Partial<Config>): ApprovalConfig {
  const duration = (name: string, override: number | undefined, fallback: number): number => {
    const value = override ?? (env[name] ? parseDuration(env[name]) : fallback);
    if (value < 1) throw new MandateError('invalid_config', `${name} must be at least 1s, got ${env[name]}`);
    return value;
  };
  const url = overrides.approvalWebhookUrl !== undefined ? overrides.approvalWebhookUrl : env.MANDATE_APPROVAL_WEBHOOK_URL || null;
  if (url !== null && !/^https?:$/.test(URL.parse(url)?.protocol ?? '')) throw new MandateError('invalid_config', `MANDATE_APPROVAL_WEBHOOK_URL must be an http(s) URL, got ${url}`);
  const secret = overrides.approvalWebhookSecret !== undefined ? overrides.approvalWebhookSecret : env.MANDATE_APPROVAL_WEBHOOK_SECRET || null;
  if (url !== null && secret === null) throw new MandateError('invalid_config', 'MANDATE_APPROVAL_WEBHOOK_URL needs MANDATE_APPROVAL_WEBHOOK_SECRET (whsec_ and 24–64 random bytes in base64) to sign what it sends');
  const keyBytes = secret === null ? 0 : Buffer.from(secret.slice('whsec_'.length), 'base64').length;
  if (secret !== null && (!WEBHOOK_SECRET.test(secret) || keyBytes < 24 || keyBytes > 64)) {
    throw new MandateError('invalid_config', 'MANDATE_APPROVAL_WEBHOOK_SECRET must be whsec_ followed by 24–64 random bytes in base64 (e.g. whsec_$(openssl rand -base64 32))');
  }
  return {
    approvalWindow: duration('MANDATE_APPROVAL_WINDOW', overrides.approvalWindow, DEFAULTS.approvalWindow),
    approvalTtl: duration('MANDATE_APPROVAL_TTL', overrides.approvalTtl, DEFAULTS.approvalTtl),
    approvalMaxRepeat: duration('MANDATE_APPROVAL_MAX_REPEAT', overrides.approvalMaxRepeat, DEFAULTS.approvalMaxRepeat),
    approvalMaxUses: overrides.approvalMaxUses ?? wholeNumber(env, 'MANDATE_APPROVAL_MAX_USES', DEFAULTS.approvalMaxUses, 1, 1_000_000),
    approvalWait: overrides.approvalWait ?? (env.MANDATE_APPROVAL_WAIT ? parseDuration(env.MANDATE_APPROVAL_WAIT) : DEFAULTS.approvalWait),
    approvalProgressInterval: duration('MANDATE_APPROVAL_PROGRESS_INTERVAL', overrides.approvalProgressInterval, DEFAULTS.approvalProgressInterval),
    approvalDenialQuiet: overrides.approvalDenialQuiet ?? (env.MANDATE_APPROVAL_DENIAL_QUIET ? parseDuration(env.MANDATE_APPROVAL_DENIAL_QUIET) : DEFAULTS.approvalDenialQuiet),
    approvalWebhookUrl: url,
    approvalWebhookSecret: secret,
    approvalWebhookBackoffMs: overrides.approvalWebhookBackoffMs ?? DEFAULTS.approvalWebhookBackoffMs,
  };
}

/** Parses `90`, `90s`, `15m`, `8h`, `1d` into seconds. */
export function parseDuration(value: string): number {
  const match = /^(\d+)\s*(s|m|h|d)?$/.exec(value.trim());
  if (!match) throw new MandateError('invalid_duration', `"${value}" is not a duration (use e.g. 90s, 15m, 8h, 1d)`);
  const unit = { s: 1, m: 60, h: 3600, d: 86400 }[(match[2] ?? 's') as 's' | 'm' | 'h' | 'd'];
  return Number(match[1]) * unit;
}

function wholeNumber(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const value = env[name];
  if (value === undefined || value === '') return fallback;
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new MandateError('invalid_config', `${name} must be a whole number from ${min}${max < Number.MAX_SAFE_INTEGER ? ` to ${max}` : ''}, got ${value}`);
  }
  return Number(value);
}

const TRUST_DOMAIN = /^[a-z0-9._-]{1,255}$/;

/**
 * MANDATE_PG_*: the admin URL turns the provider on; the other variables need it. The
 * grant templates are separated by ";" or line breaks (a template may contain
 * neither). The URL, the templates and the prefix are checked when the provider is
 * made, as Mandate starts, by messages that never show the URL.
 */
function postgresConfig(env: NodeJS.ProcessEnv): PostgresConfig | null {
  const value = (name: string): string | null => (env[name] === undefined || env[name]?.trim() === '' ? null : (env[name] as string));
  const adminUrl = value('MANDATE_PG_ADMIN_URL');
  if (adminUrl === null) {
    const stray = ['MANDATE_PG_DATABASE', 'MANDATE_PG_GRANTS', 'MANDATE_PG_ROLE_PREFIX'].find((name) => value(name) !== null);
    if (stray) throw new MandateError('invalid_config', `${stray} is set but MANDATE_PG_ADMIN_URL is not: the PostgreSQL role provider needs its admin URL`);
    return null;
  }
  const grants = (value('MANDATE_PG_GRANTS') ?? '').split(/[;\n]/).map((grant) => grant.trim()).filter((grant) => grant !== '');
  return { adminUrl: adminUrl.trim(), database: value('MANDATE_PG_DATABASE')?.trim() ?? null, grants, rolePrefix: value('MANDATE_PG_ROLE_PREFIX')?.trim() ?? null };
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Config> = {}): Config {
  const port = overrides.port ?? (env.MANDATE_PORT ? Number(env.MANDATE_PORT) : DEFAULTS.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new MandateError('invalid_config', `MANDATE_PORT must be a port number, got ${env.MANDATE_PORT}`);
  const host = overrides.host ?? env.MANDATE_HOST ?? DEFAULTS.host;
  const urlHost = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;
  const publicUrl = (overrides.publicUrl ?? env.MANDATE_PUBLIC_URL ?? `http://${urlHost}:${port}`).replace(/\/+$/, '');
  try {
    new URL(publicUrl);
  } catch {
    throw new MandateError('invalid_config', `MANDATE_PUBLIC_URL is not a URL: ${publicUrl}`);
  }
  const trustDomain = overrides.trustDomain ?? env.MANDATE_TRUST_DOMAIN ?? DEFAULTS.trustDomain;
  if (!TRUST_DOMAIN.test(trustDomain)) throw new MandateError('invalid_config', `MANDATE_TRUST_DOMAIN is not a valid SPIFFE trust domain: ${trustDomain}`);
  const mandateMaxTtl = overrides.mandateMaxTtl ?? (env.MANDATE_MAX_MANDATE_TTL ? parseDuration(env.MANDATE_MAX_MANDATE_TTL) : DEFAULTS.mandateMaxTtl);
  const sqliteSynchronous = overrides.sqliteSynchronous ?? (env.MANDATE_SQLITE_SYNCHRONOUS ?? 'normal').toLowerCase();
  if (sqliteSynchronous !== 'normal' && sqliteSynchronous !== 'full') {
    throw new MandateError('invalid_config', `MANDATE_SQLITE_SYNCHRONOUS must be normal or full, got ${env.MANDATE_SQLITE_SYNCHRONOUS}`);
  }
  const auditCheckpointInterval = overrides.auditCheckpointInterval ?? (env.MANDATE_AUDIT_CHECKPOINT_INTERVAL ? parseDuration(env.MANDATE_AUDIT_CHECKPOINT_INTERVAL) : DEFAULTS.auditCheckpointInterval);
  if (auditCheckpointInterval < 1) throw new MandateError('invalid_config', `MANDATE_AUDIT_CHECKPOINT_INTERVAL must be at least 1s, got ${env.MANDATE_AUDIT_CHECKPOINT_INTERVAL}`);
  const auditCheckpointEntries = overrides.auditCheckpointEntries ?? wholeNumber(env, 'MANDATE_AUDIT_CHECKPOINT_ENTRIES', DEFAULTS.auditCheckpointEntries, 1);
  const auditCommitDelayMs = overrides.auditCommitDelayMs ?? wholeNumber(env, 'MANDATE_AUDIT_COMMIT_DELAY_MS', DEFAULTS.auditCommitDelayMs, 0, 1000);
  const block = env.MANDATE_BLOCK_SECRET_REPLIES?.toLowerCase();
  if (block !== undefined && block !== '' && block !== 'true' && block !== 'false') {
    throw new MandateError('invalid_config', `MANDATE_BLOCK_SECRET_REPLIES must be true or false, got ${env.MANDATE_BLOCK_SECRET_REPLIES}`);
  }
  const blockSecretReplies = overrides.blockSecretReplies ?? block === 'true';
  const maxDelegationDepth = overrides.maxDelegationDepth ?? wholeNumber(env, 'MANDATE_MAX_DELEGATION_DEPTH', 3, 0, 16);
  const auditOrigin = overrides.auditOrigin ?? env.MANDATE_AUDIT_ORIGIN ?? null;
  if (auditOrigin !== null && !/^[!-*,-~]{1,255}$/.test(auditOrigin)) {
    throw new MandateError('invalid_config', `MANDATE_AUDIT_ORIGIN must be one word of printable characters without "+" (e.g. audit.example.com/mandate), got ${JSON.stringify(auditOrigin)}`);
  }
  const sessionIdle = overrides.sessionIdle ?? (env.MANDATE_SESSION_IDLE ? parseDuration(env.MANDATE_SESSION_IDLE) : DEFAULTS.sessionIdle);
  if (sessionIdle < 1) throw new MandateError('invalid_config', `MANDATE_SESSION_IDLE must be at least 1s, got ${env.MANDATE_SESSION_IDLE}`);
  const approvals = approvalConfig(env, overrides);
  return {
    ...approvals,
    dataDir: resolve(overrides.dataDir ?? env.MANDATE_DATA_DIR ?? DEFAULTS.dataDir),
    host,
    port,
    publicUrl,
    trustDomain,
    databaseUrl: overrides.databaseUrl ?? env.MANDATE_DATABASE_URL ?? null,
    sqliteSynchronous,
    sessionIdle,
    auditOrigin,
    auditCheckpointInterval,
    auditCheckpointEntries,
    auditCommitDelayMs,
    blockSecretReplies,
    kekFile: overrides.kekFile !== undefined ? overrides.kekFile : env.MANDATE_KEK_FILE ? resolve(env.MANDATE_KEK_FILE) : null,
    kekPreviousFile: overrides.kekPreviousFile !== undefined ? overrides.kekPreviousFile : env.MANDATE_KEK_PREVIOUS_FILE ? resolve(env.MANDATE_KEK_PREVIOUS_FILE) : null,
    maxDelegationDepth,
    postgres: overrides.postgres !== undefined ? overrides.postgres : postgresConfig(env),
    mandateDefaultTtl: Math.min(overrides.mandateDefaultTtl ?? DEFAULTS.mandateDefaultTtl, mandateMaxTtl),
    mandateMaxTtl,
    taskTokenTtl: overrides.taskTokenTtl ?? DEFAULTS.taskTokenTtl,
    personTokenTtl: overrides.personTokenTtl ?? DEFAULTS.personTokenTtl,
    enrollmentTokenTtl: overrides.enrollmentTokenTtl ?? DEFAULTS.enrollmentTokenTtl,
    clientAssertionMaxAge: overrides.clientAssertionMaxAge ?? DEFAULTS.clientAssertionMaxAge,
    dpopMaxAge: overrides.dpopMaxAge ?? DEFAULTS.dpopMaxAge,
    clockTolerance: overrides.clockTolerance ?? DEFAULTS.clockTolerance,
  };
}

export const endpoints = (publicUrl: string) => ({
  issuer: publicUrl,
  token: `${publicUrl}/oauth/token`,
  introspection: `${publicUrl}/oauth/introspect`,
  revocation: `${publicUrl}/oauth/revoke`,
  jwks: `${publicUrl}/.well-known/jwks.json`,
  mcpResource: (server: string) => `${publicUrl}/mcp/${server}`,
  /** The resource of an HTTP API server: `/proxy/<server>` (its paths below it). */
  proxyResource: (server: string) => `${publicUrl}/proxy/${server}`,
});
