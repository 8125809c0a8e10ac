import { z } from 'zod';
import { proveConsistency, proveInclusion } from '../../audit/ledger-reader.ts';
import type { StoredAuditEvent } from '../../audit/event.ts';
import { badRequest, MandateError } from '../../errors.ts';
import { route } from './route.ts';

const EntityRef = z.object({ type: z.string(), id: z.string() });

const AuditEventView = z.object({
  seq: z.number().int(), hash: z.string(), kind: z.enum(['authentication', 'token', 'decision', 'result', 'evaluation', 'revocation', 'approval']), time: z.string(), server: z.string(),
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
  omitted: z.array(z.string()).nullable().describe('parts left out of an event too long for one ledger entry'),
  arguments: z.unknown().describe('of a decision on a request with arguments: a redacted, bounded copy of them (never the secrets)').optional(),
  mandates: z.array(z.string()).nullable().describe('of a revocation: the mandates it ended (at most 1,000 per event)'),
  total: z.number().int().nullable().describe('of a revocation that ended more than one event lists: how many in all'),
  lease: z.string().nullable().describe('of a credential/use decision on a dynamic credential: the lease issued (lse_…), never its secret'),
  receipt: z.object({
    mandateId: z.string(), role: z.string(), at: z.number().int(), sessionsTerminated: z.number().int(), roleExistedBefore: z.boolean().nullable(),
    roleGoneAfter: z.boolean(), remainingSessions: z.number().int().nullable(), verified: z.boolean(), checks: z.array(z.string()),
  }).nullable().describe('of a credential/revoke revocation: what the provider did and saw afterwards (the role gone, its sessions); never a password'),
  secrets: z.array(z.string()).nullable().describe('the kinds of secret found (never their values): of a decision, redacted from its arguments; of a result, in the reply'),
  credentials: z.array(z.string()).nullable().describe('the credentials injected into the upstream the request went to (of a credential/use decision, the one decided), by id; never a secret'),
  approval: z.string().nullable().describe('the approval (apr_…) an approval event is a step of, or that a call needed or used'),
  action_digest: z.string().nullable().describe('of an approval event: the digest of the exact action the approval is bound to'),
  note: z.string().nullable().describe('of an approval event: what the approver said, or what became of a notification'),
});

const count = (value: string | null, fallback: number, max: number): number => {
  if (value === null) return fallback;
  if (!/^\d+$/.test(value) || Number(value) > max) throw badRequest('invalid_query', `expected a whole number up to ${max}, got "${value}"`);
  return Number(value);
};

const eventView = (e: StoredAuditEvent): z.infer<typeof AuditEventView> => ({
  seq: e.seq, hash: e.hash, kind: e.kind, time: new Date(e.time).toISOString(), server: e.server, person: e.person, agents: e.agents, mandate: e.mandate,
  purpose: e.purpose, method: e.method, tool: e.tool, arguments_digest: e.argumentsDigest, decision: e.decision, reason: e.reason, policies: e.policies,
  policy_set_hash: e.policySetHash, outcome: e.outcome, latency_ms: e.latencyMs, request: e.request ?? null, shadow: e.shadow ?? null,
  caller: e.caller ?? null, subject: e.subject ?? null, resource: e.resource ?? null, omitted: e.omitted ?? null,
  ...(e.arguments === undefined ? {} : { arguments: e.arguments }), secrets: e.secrets ?? null, mandates: e.mandates ?? null, total: e.total ?? null,
  lease: e.lease ?? null, receipt: e.receipt ?? null,
  credentials: e.credentials ?? null, approval: e.approval ?? null, action_digest: e.actionDigest ?? null, note: e.note ?? null,
});

const b64 = (hash: Uint8Array): string => Buffer.from(hash).toString('base64');
const Base64Hash = z.string().describe('a SHA-256 hash, standard base64 (as in checkpoints)');

const InclusionView = z.object({
  seq: z.number().int(), leaf_index: z.number().int(), tree_size: z.number().int(), leaf_hash: Base64Hash,
  hashes: z.array(Base64Hash).describe('RFC 9162 PATH(leaf_index, D[tree_size]), nearest the leaf first'), root_hash: Base64Hash,
  checkpoint: z.string().nullable().describe('the signed checkpoint of tree_size, when one was signed'),
});
const ConsistencyView = z.object({
  old_size: z.number().int(), new_size: z.number().int(), old_root: Base64Hash, new_root: Base64Hash,
  hashes: z.array(Base64Hash).describe('RFC 9162 PROOF(old_size, D[new_size])'),
  checkpoints: z.object({ old: z.string().nullable(), new: z.string().nullable() }).describe('the signed checkpoints of both sizes, when signed'),
});
const CheckpointView = z.object({ size: z.number().int(), time: z.string(), note: z.string() });

async function checkpointOf(app: { store: { listAuditCheckpoints: (o: { afterSize?: number; limit: number }) => Promise<{ size: number; note: string }[]> } }, size: number): Promise<string | null> {
  const [found] = await app.store.listAuditCheckpoints({ afterSize: size - 1, limit: 1 });
  return found && found.size === size ? found.note : null;
}

export const auditRoutes = [
  route({
    method: 'GET', path: '/api/v1/audit/events', tag: 'audit', access: 'admin',
    summary: 'Audit events, oldest first: the last ?limit= (default 50), or those after ?after=<seq>',
    response: z.object({ events: z.array(AuditEventView) }),
    handle: async ({ app, query }) => {
      const limit = count(query.get('limit'), 50, 1000);
      const after = query.get('after');
      const events = await app.store.listAuditEvents(after === null ? { limit } : { afterSeq: count(after, 0, Number.MAX_SAFE_INTEGER), limit });
      return { events: events.map(eventView) };
    },
  }),
  route({
    method: 'GET', path: '/api/v1/audit/events/{seq}', tag: 'audit', access: 'admin',
    summary: 'One audit event by its sequence number',
    response: AuditEventView,
    handle: async ({ app, params }) => {
      const event = await app.store.getAuditEvent(count(params.seq ?? null, 0, Number.MAX_SAFE_INTEGER));
      if (!event) throw new MandateError('event_not_found', `there is no audit event ${params.seq}`, { status: 404 });
      return eventView(event);
    },
  }),
  route({
    method: 'GET', path: '/api/v1/audit/checkpoints', tag: 'audit', access: 'admin',
    summary: 'Signed checkpoints, smallest first: those of size > ?after= (default 0), at most ?limit= (default 100)',
    response: z.object({ checkpoints: z.array(CheckpointView) }),
    handle: async ({ app, query }) => {
      const checkpoints = await app.store.listAuditCheckpoints({ afterSize: count(query.get('after'), 0, Number.MAX_SAFE_INTEGER), limit: count(query.get('limit'), 100, 10_000) });
      return { checkpoints: checkpoints.map((c) => ({ size: c.size, time: new Date(c.time).toISOString(), note: c.note })) };
    },
  }),
  route({
    method: 'GET', path: '/api/v1/audit/proofs/inclusion', tag: 'audit', access: 'admin',
    summary: 'The inclusion proof of event ?seq= in the tree of ?size= (default: the latest checkpoint, signed now if it does not cover the event yet)',
    response: InclusionView,
    handle: async ({ app, query }) => {
      const seq = count(query.get('seq'), 0, Number.MAX_SAFE_INTEGER);
      if (seq < 1) throw badRequest('invalid_query', 'seq is the event\'s sequence number, from 1');
      let size = query.get('size') === null ? null : count(query.get('size'), 0, Number.MAX_SAFE_INTEGER);
      if (size === null) {
        const latest = app.checkpoints.latest && app.checkpoints.latest.size >= seq ? app.checkpoints.latest : await app.checkpoints.current();
        size = latest?.size ?? 0;
      }
      const proof = await proveInclusion(app.store, seq, size);
      return {
        seq, leaf_index: proof.leafIndex, tree_size: proof.treeSize, leaf_hash: b64(proof.leafHash), hashes: proof.proof.map(b64), root_hash: b64(proof.rootHash),
        checkpoint: await checkpointOf(app, proof.treeSize),
      };
    },
  }),
  route({
    method: 'GET', path: '/api/v1/audit/proofs/consistency', tag: 'audit', access: 'admin',
    summary: 'The consistency proof between tree sizes ?from= and ?to= (default: the latest checkpoint)',
    response: ConsistencyView,
    handle: async ({ app, query }) => {
      const from = count(query.get('from'), 0, Number.MAX_SAFE_INTEGER);
      const to = query.get('to') === null ? ((await app.checkpoints.current())?.size ?? 0) : count(query.get('to'), 0, Number.MAX_SAFE_INTEGER);
      const proof = await proveConsistency(app.store, from, to);
      return {
        old_size: from, new_size: to, old_root: b64(proof.oldRoot), new_root: b64(proof.newRoot), hashes: proof.proof.map(b64),
        checkpoints: { old: await checkpointOf(app, from), new: await checkpointOf(app, to) },
      };
    },
  }),
];
