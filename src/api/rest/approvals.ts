import { z } from 'zod';
import type { Approval, ApprovalState } from '../../approvals/types.ts';
import { parseDuration } from '../../config.ts';
import { badRequest } from '../../errors.ts';
import type { App } from '../../app.ts';
import { route } from './route.ts';

const tag = 'approvals';
const time = z.string().describe('RFC 3339 time');
const STATES = ['pending', 'approved', 'denied', 'expired', 'used'] as const;

export const ApprovalView = z.object({
  id: z.string(),
  url: z.string().describe('this approval in the REST API'),
  page: z.string().describe('where a person sees and decides it in a browser'),
  state: z.enum(STATES),
  digest: z.string().describe('sha256 over the canonical JSON of the binding: the exact action approved'),
  binding: z.object({
    server: z.string(), method: z.string(), target: z.string().describe('the tool or prompt, the resource URI, or "<METHOD> <path>"'),
    arguments_digest: z.string(), mandate_id: z.string(), agent: z.string().describe('the acting agent\'s SPIFFE ID'),
  }),
  initiator: z.string().describe('the person whose mandate it is'),
  approvers: z.array(z.array(z.string())).describe('one list per policy that asked; the approving person matches one entry of every list: owner, sponsor, initiator, group:<name>'),
  policies: z.array(z.string()),
  preview: z.unknown().describe('the arguments, redacted and bounded (never a secret)'),
  created_at: time, expires_at: time.describe('a pending approval not decided by then expires'),
  decided_at: time.nullable(), decided_by: z.string().nullable().describe('person <id>, or admin (a denial)'), note: z.string().nullable(),
  usable_until: time.nullable().describe('once approved: the call may be made until then'),
  repeat_until: time.nullable().describe('once approved for a period: identical calls pass until then'),
  max_uses: z.number().int(), uses: z.number().int(), used_at: time.nullable(),
});

const view = (app: App, approval: Approval) => app.approvals.json(approval);

const seconds = z.union([z.number().int().positive(), z.string().max(20)]);

export const approvalRoutes = [
  route({
    method: 'GET', path: '/api/v1/approvals', tag, access: 'authenticated',
    summary: 'Approvals, newest first: the admin sees all, a person those they may decide or initiated, an agent those of its calls; filter with ?state=, ?mandate=, ?limit= (default 100)',
    response: z.object({ approvals: z.array(ApprovalView) }),
    handle: async ({ app, caller, query, now }) => {
      const state = query.get('state');
      if (state !== null && !(STATES as readonly string[]).includes(state)) throw badRequest('invalid_query', `state is one of ${STATES.join(', ')}`);
      const limit = query.get('limit');
      if (limit !== null && (!/^\d+$/.test(limit) || Number(limit) < 1 || Number(limit) > 1000)) throw badRequest('invalid_query', 'limit is a whole number from 1 to 1000');
      const approvals = await app.approvals.list(caller!, {
        ...(state === null ? {} : { state: state as ApprovalState }), ...(query.get('mandate') === null ? {} : { mandateId: query.get('mandate') as string }),
        ...(limit === null ? {} : { limit: Number(limit) }),
      }, now);
      return { approvals: approvals.map((a) => view(app, a)) };
    },
  }),
  route({
    method: 'GET', path: '/api/v1/approvals/{id}', tag, access: 'authenticated', summary: 'One approval (to whoever may list it)', response: ApprovalView,
    handle: async ({ app, caller, params, now }) => view(app, await app.approvals.show(caller!, params.id as string, now)),
  }),
  route({
    method: 'POST', path: '/api/v1/approvals/{id}/approve', tag, access: 'authenticated',
    summary: 'Approve, as an eligible person (never an agent, never the admin credential): the exact call may then be made once within the window, or with "for" identical calls until then (at most max_uses)',
    body: z.strictObject({
      for: seconds.optional().describe('approve this and identical calls for this long: seconds, or a duration such as "10m" (capped by MANDATE_APPROVAL_MAX_REPEAT)'),
      max_uses: z.number().int().positive().optional().describe('how many identical calls (default 1, or the cap with "for"; capped by MANDATE_APPROVAL_MAX_USES)'),
      note: z.string().max(1000).optional(),
    }),
    response: ApprovalView,
    handle: async ({ app, caller, params, body, now }) => {
      const forSeconds = typeof body.for === 'string' ? parseDuration(body.for) : body.for;
      return view(app, await app.approvals.approve(caller!, params.id as string, { forSeconds, maxUses: body.max_uses, note: body.note }, now));
    },
  }),
  route({
    method: 'POST', path: '/api/v1/approvals/{id}/deny', tag, access: 'authenticated', summary: 'Deny, as an eligible person or the admin: final, the call will not be made',
    body: z.strictObject({ note: z.string().max(1000).optional() }),
    response: ApprovalView,
    handle: async ({ app, caller, params, body, now }) => view(app, await app.approvals.deny(caller!, params.id as string, { note: body.note }, now)),
  }),
];
