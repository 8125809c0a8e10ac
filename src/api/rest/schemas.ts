// Shapes of the control plane's answers; requests are declared beside their routes.
import { z } from 'zod';
import type { Agent, Group, IdentityProvider, Mandate, Person, Server, Tool } from '../../store/types.ts';

const time = z.string().describe('RFC 3339 time');
const iso = (seconds: number): string => new Date(seconds * 1000).toISOString();
const isoOrNull = (seconds: number | null): string | null => (seconds === null ? null : iso(seconds));

export const PersonView = z.object({
  id: z.string(), email: z.string().nullable(), name: z.string().nullable(), status: z.enum(['active', 'deactivated']),
  issuer: z.string().nullable().describe('null for the embedded directory'), created_at: time,
});
export const personView = (p: Person): z.infer<typeof PersonView> => ({ id: p.id, email: p.email, name: p.name, status: p.status, issuer: p.issuer, created_at: iso(p.createdAt) });

export const AgentView = z.object({
  id: z.string(), name: z.string(), spiffe_id: z.string(), owner: z.string(), purpose: z.string(), environment: z.enum(['dev', 'staging', 'prod']),
  status: z.enum(['active', 'suspended', 'retired']), enrolled: z.boolean(), key_ids: z.array(z.string()), created_at: time, enrolled_at: time.nullable(),
  sponsor: z.string().nullable().describe('a person who answers for the agent beside its owner (approver kind `sponsor`)'),
});
export const agentView = (a: Agent): z.infer<typeof AgentView> => ({
  id: a.id, name: a.name, spiffe_id: a.spiffeId, owner: a.owner, purpose: a.purpose, environment: a.environment, status: a.status,
  enrolled: a.keys.length > 0, key_ids: a.keys.map((k) => String(k.kid)), created_at: iso(a.createdAt), enrolled_at: isoOrNull(a.enrolledAt),
  sponsor: a.sponsor ?? null,
});

export const GroupView = z.object({ name: z.string(), members: z.array(z.string()).describe('person ids, sorted'), created_at: time });
export const groupView = (g: Group): z.infer<typeof GroupView> => ({ name: g.name, members: g.members, created_at: iso(g.createdAt) });

export const ToolView = z.object({
  name: z.string(), sensitivity: z.enum(['public', 'internal', 'confidential', 'secret']), effect: z.enum(['read', 'write', 'destructive']),
  egress: z.enum(['internal', 'external']), labelled: z.boolean(),
});
export const ServerView = z.object({
  name: z.string(),
  upstream: z.union([
    z.object({ transport: z.literal('http'), url: z.string() }),
    z.object({
      transport: z.literal('stdio'), command: z.string(), args: z.array(z.string()),
      lease: z.object({ provider: z.literal('postgres'), env: z.string().nullable().describe('the variable that receives the lease URL; null: the libpq variables') })
        .optional().describe('each session\'s process gets the mandate\'s PostgreSQL role'),
    }),
    z.object({ transport: z.literal('http-api'), url: z.string().describe('the base URL /proxy/<server>/<path> forwards to') }),
  ]),
  resource: z.string().describe('the gateway resource URL to request task tokens for (/mcp/<server>, or /proxy/<server> for an HTTP API)'),
  environment: z.enum(['dev', 'staging', 'prod']).nullable().describe('only agents of this environment may use it; null: any'),
  tools: z.array(ToolView),
  created_at: time,
});
export const serverView = (s: Server, tools: Tool[], resource: string): z.infer<typeof ServerView> => ({
  name: s.name, upstream: s.upstream, resource, environment: s.environment,
  tools: tools.map((t) => ({ name: t.name, sensitivity: t.sensitivity, effect: t.effect, egress: t.egress, labelled: t.labelled })), created_at: iso(s.createdAt),
});

export const MandateView = z.object({
  id: z.string(), grantor: z.string(), agent_id: z.string(), parent_id: z.string().nullable(), purpose: z.string(), scope: z.array(z.string()),
  not_before: time, expires_at: time, max_calls: z.number().int().nullable(), calls_used: z.number().int(),
  state: z.enum(['active', 'completed', 'revoked', 'expired']), reason: z.string().nullable(), created_at: time, ended_at: time.nullable(),
  depth: z.number().int().describe('0 for a person\'s own grant, one more per sub-delegation'),
  chain: z.array(z.string()).describe('the agents that delegated down to this one (SPIFFE IDs), nearest first'),
  ended_by: z.string().nullable().describe('who ended it: admin, person <id>, agent <SPIFFE ID>'),
});
export const mandateView = (m: Mandate): z.infer<typeof MandateView> => ({
  id: m.id, grantor: m.grantor, agent_id: m.agentId, parent_id: m.parentId, purpose: m.purpose, scope: m.scope, not_before: iso(m.notBefore),
  expires_at: iso(m.expiresAt), max_calls: m.maxCalls, calls_used: m.callsUsed, state: m.state, reason: m.reason, created_at: iso(m.createdAt), ended_at: isoOrNull(m.endedAt),
  depth: m.depth, chain: m.chain, ended_by: m.endedBy,
});

export const IdentityProviderView = z.object({ name: z.string(), issuer: z.string(), audience: z.string(), jwks_uri: z.string(), subject_claim: z.string(), created_at: time });
export const identityProviderView = (p: IdentityProvider): z.infer<typeof IdentityProviderView> => ({
  name: p.name, issuer: p.issuer, audience: p.audience, jwks_uri: p.jwksUri, subject_claim: p.subjectClaim, created_at: iso(p.createdAt),
});

export const PolicyProblemView = z.object({
  file: z.string(), line: z.number().int(), column: z.number().int().describe('1-based, in characters'), end_line: z.number().int(), end_column: z.number().int(),
  policy: z.string().nullable().describe('the policy id, when the problem belongs to one'), severity: z.enum(['error', 'warning']), message: z.string(),
  help: z.string().nullable().describe('Cedar\'s suggestion, when it has one'),
});

export const Problem = z.object({
  type: z.string(), title: z.string(), status: z.number().int(), detail: z.string(), code: z.string(), instance: z.string(),
  problems: z.array(PolicyProblemView).optional().describe('policy_invalid: every problem of the refused policy set, each at its file, line and column'),
});
