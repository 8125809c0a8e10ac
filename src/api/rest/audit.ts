import { z } from 'zod';
import { badRequest } from '../../errors.ts';
import { route } from './route.ts';

const EntityRef = z.object({ type: z.string(), id: z.string() });

const AuditEventView = z.object({
  seq: z.number().int(), hash: z.string(), kind: z.enum(['authentication', 'decision', 'result', 'evaluation']), time: z.string(), server: z.string(),
  person: z.string().nullable(), agents: z.array(z.string()), mandate: z.string().nullable(), purpose: z.string().nullable(),
  method: z.string().nullable(), tool: z.string().nullable(), arguments_digest: z.string().nullable(), decision: z.enum(['allow', 'deny']).nullable(),
  reason: z.string().nullable(), policies: z.array(z.string()), policy_set_hash: z.string().nullable(), outcome: z.enum(['ok', 'error', 'denied']).nullable(),
  latency_ms: z.number().nullable(),
  request: z.object({
    principal: EntityRef, action: z.string(), resource: EntityRef, context: z.record(z.string(), z.unknown()),
    entities: z.array(z.object({ uid: EntityRef, attrs: z.record(z.string(), z.unknown()), parents: z.array(EntityRef), tags: z.record(z.string(), z.unknown()).optional() })),
  }).nullable().describe('of a decision by Cedar: the request as the decision point was asked it'),
  shadow: z.object({ decision: z.enum(['allow', 'deny']), policies: z.array(z.string()), errors: z.array(z.string()) }).nullable()
    .describe('of a decision a shadow policy could apply to: the decision with shadow policies enforced (never enforced)'),
  caller: z.string().nullable().describe('of an evaluation: who asked'), subject: z.string().nullable(), resource: z.string().nullable(),
});

const count = (value: string | null, fallback: number, max: number): number => {
  if (value === null) return fallback;
  if (!/^\d+$/.test(value) || Number(value) > max) throw badRequest('invalid_query', `expected a whole number up to ${max}, got "${value}"`);
  return Number(value);
};

export const auditRoutes = [
  route({
    method: 'GET', path: '/api/v1/audit/events', tag: 'audit', access: 'admin',
    summary: 'Audit events, oldest first: the last ?limit= (default 50), or those after ?after=<seq>',
    response: z.object({ events: z.array(AuditEventView) }),
    handle: async ({ app, query }) => {
      const limit = count(query.get('limit'), 50, 1000);
      const after = query.get('after');
      const events = await app.store.listAuditEvents(after === null ? { limit } : { afterSeq: count(after, 0, Number.MAX_SAFE_INTEGER), limit });
      return {
        events: events.map((e) => ({
          seq: e.seq, hash: e.hash, kind: e.kind, time: new Date(e.time).toISOString(), server: e.server, person: e.person, agents: e.agents, mandate: e.mandate,
          purpose: e.purpose, method: e.method, tool: e.tool, arguments_digest: e.argumentsDigest, decision: e.decision, reason: e.reason, policies: e.policies,
          policy_set_hash: e.policySetHash, outcome: e.outcome, latency_ms: e.latencyMs, request: e.request ?? null, shadow: e.shadow ?? null,
          caller: e.caller ?? null, subject: e.subject ?? null, resource: e.resource ?? null,
        })),
      };
    },
  }),
];
