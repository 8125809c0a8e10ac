// Rows of the SQLite store as the domain's values, and the column helpers they use.
import type { SQLInputValue } from 'node:sqlite';
import type { JWK } from '../../identity/jwk.ts';
import type { Agent, AgentStatus, IdentityProvider, Mandate, MandateState, Person, PersonStatus, Server, SigningKey, Tool } from '../types.ts';

export type Row = Record<string, SQLInputValue>;


export const json = (value: unknown): string => JSON.stringify(value);
export type Column = SQLInputValue | undefined;
export const parse = <T>(value: Column): T => JSON.parse(String(value)) as T;
export const num = (value: Column): number => Number(value);
export const numOrNull = (value: Column): number | null => (value === null || value === undefined ? null : Number(value));
export const strOrNull = (value: Column): string | null => (value === null || value === undefined ? null : String(value));

export const toPerson = (r: Row): Person => ({
  id: String(r.id), email: strOrNull(r.email), name: strOrNull(r.name), status: r.status as PersonStatus,
  issuer: strOrNull(r.issuer), subject: strOrNull(r.subject), createdAt: num(r.created_at),
});
export const toAgent = (r: Row): Agent => ({
  id: String(r.id), name: String(r.name), spiffeId: String(r.spiffe_id), owner: String(r.owner), sponsor: strOrNull(r.sponsor), purpose: String(r.purpose),
  environment: r.environment as Agent['environment'], status: r.status as AgentStatus, reviewDue: numOrNull(r.review_due),
  keys: parse<JWK[]>(r.keys), createdAt: num(r.created_at), enrolledAt: numOrNull(r.enrolled_at),
});
export const toServer = (r: Row): Server => ({ name: String(r.name), upstream: parse(r.upstream), environment: strOrNull(r.environment) as Server['environment'], createdAt: num(r.created_at) });
export const toTool = (r: Row): Tool => ({
  server: String(r.server), name: String(r.name), sensitivity: r.sensitivity as Tool['sensitivity'], effect: r.effect as Tool['effect'],
  egress: r.egress as Tool['egress'], labelled: num(r.labelled) === 1, firstSeen: num(r.first_seen),
});
export const toMandate = (r: Row): Mandate => ({
  id: String(r.id), grantor: String(r.grantor), agentId: String(r.agent_id), parentId: strOrNull(r.parent_id), purpose: String(r.purpose),
  scope: parse<string[]>(r.scope), notBefore: num(r.not_before), expiresAt: num(r.expires_at), maxCalls: numOrNull(r.max_calls),
  callsUsed: num(r.calls_used), state: r.state as MandateState, reason: strOrNull(r.reason), createdAt: num(r.created_at), endedAt: numOrNull(r.ended_at),
  depth: num(r.depth ?? 0), chain: r.chain === undefined || r.chain === null ? [] : parse<string[]>(r.chain), endedBy: strOrNull(r.ended_by),
});
export const toSigningKey = (r: Row): SigningKey => ({
  kid: String(r.kid), alg: 'ES256', publicJwk: parse(r.public_jwk), privateJwk: parse(r.private_jwk),
  state: r.state as SigningKey['state'], createdAt: num(r.created_at), retireAfter: numOrNull(r.retire_after),
});
export const toProvider = (r: Row): IdentityProvider => ({
  name: String(r.name), issuer: String(r.issuer), audience: String(r.audience), jwksUri: String(r.jwks_uri),
  subjectClaim: String(r.subject_claim), createdAt: num(r.created_at),
});

/** Whether a statement failed on a UNIQUE constraint (the row already exists). */
export const isUniqueViolation = (error: unknown): boolean => String((error as Error)?.message).includes('UNIQUE constraint failed');
