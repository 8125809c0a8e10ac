// The SQL the PostgreSQL role provider writes: role names derived from mandate ids,
// quoting, the grant templates and the comment that ties a role to its mandate. Every
// identifier and literal goes through pg's own quoting; nothing from a mandate id
// reaches SQL except as the hash inside a role name and a quoted literal.
import { createHash } from 'node:crypto';
import { escapeIdentifier, escapeLiteral } from 'pg';
import { MandateError } from '../errors.ts';

export const DEFAULT_ROLE_PREFIX = 'mandate_';

/** 32 hex digits of SHA-256: 128 bits, so two mandates never share a role. */
const ROLE_HASH_HEX = 32;
const PREFIX = /^[a-z_][a-z0-9_]{0,29}$/;
const GRANT_START = /^\s*GRANT\s/i;
const PLACEHOLDER = /\{role\}/g;
/** What the comment on a role starts with, so a role Mandate did not issue is never taken for one. */
const COMMENT_ISSUER = 'mandate';

export const quoteIdentifier = (name: string): string => {
  if (name.includes('\0')) throw new MandateError('invalid_config', 'an SQL identifier cannot contain a NUL character');
  return escapeIdentifier(name);
};

export const quoteLiteral = (value: string): string => {
  if (value.includes('\0')) throw new MandateError('invalid_config', 'an SQL literal cannot contain a NUL character');
  return escapeLiteral(value);
};

export function checkPrefix(prefix: string): string {
  if (!PREFIX.test(prefix)) {
    throw new MandateError('invalid_config', `the role prefix must be 1–30 lowercase letters, digits or underscores, starting with a letter or underscore; got ${JSON.stringify(prefix)}`);
  }
  return prefix;
}

/** The role of a mandate: the prefix and a hash of the mandate id — lowercase, at most 62 bytes, the same every time. */
export const roleNameFor = (prefix: string, mandateId: string): string =>
  `${prefix}${createHash('sha256').update(mandateId).digest('hex').slice(0, ROLE_HASH_HEX)}`;

/**
 * Checks the grant templates once, at configuration: each one GRANT statement that
 * names `{role}`, with no statement separator or comment that could smuggle in another.
 */
export function checkGrants(grants: readonly string[]): string[] {
  return grants.map((grant, index) => {
    const where = `grant ${index + 1} (${JSON.stringify(grant)})`;
    if (typeof grant !== 'string' || !GRANT_START.test(grant)) throw new MandateError('invalid_config', `${where} must be a GRANT statement`);
    if (!grant.includes('{role}')) throw new MandateError('invalid_config', `${where} must name the role as {role}`);
    if (/[;\0]|--|\/\*/.test(grant)) throw new MandateError('invalid_config', `${where} must be one statement without ";" or comments`);
    if (/[{}]/.test(grant.replace(PLACEHOLDER, ''))) throw new MandateError('invalid_config', `${where} has a placeholder other than {role}`);
    return grant.trim();
  });
}

/** A checked grant template with the role filled in, quoted. */
export const renderGrant = (template: string, role: string): string => template.replace(PLACEHOLDER, quoteIdentifier(role));

/** `VALID UNTIL` takes a timestamp literal; seconds since the epoch become UTC ISO 8601. */
export const timestampLiteral = (seconds: number): string => quoteLiteral(new Date(seconds * 1000).toISOString());

export interface RoleComment {
  mandateId: string;
  leaseId: string;
  /** Set when a revocation began: such a role is never issued again, and the reaper finishes it. */
  revokedAt?: number;
}

export const roleComment = (comment: RoleComment): string =>
  JSON.stringify({ issuer: COMMENT_ISSUER, mandate: comment.mandateId, lease: comment.leaseId, ...(comment.revokedAt === undefined ? {} : { revoked: comment.revokedAt }) });

/** The mandate a role was issued for, or null when its comment is not one Mandate wrote for that role name. */
export function parseRoleComment(prefix: string, role: string, comment: string | null): RoleComment | null {
  if (comment === null) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(comment);
  } catch {
    return null;
  }
  if (typeof parsed !== 'object' || parsed === null) return null;
  const { issuer, mandate, lease, revoked } = parsed as Record<string, unknown>;
  if (issuer !== COMMENT_ISSUER || typeof mandate !== 'string' || typeof lease !== 'string') return null;
  if (roleNameFor(prefix, mandate) !== role) return null;
  return typeof revoked === 'number' ? { mandateId: mandate, leaseId: lease, revokedAt: revoked } : { mandateId: mandate, leaseId: lease };
}
