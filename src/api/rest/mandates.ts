import { z } from 'zod';
import { parseDuration } from '../../config.ts';
import { badRequest, forbidden } from '../../errors.ts';
import type { Caller } from '../../identity/caller.ts';
import type { Mandate } from '../../store/types.ts';
import { MandateView, mandateView } from './schemas.ts';
import { route } from './route.ts';

const tag = 'mandates';

function requireGrantorOrAdmin(caller: Caller, mandate: Mandate): void {
  if (caller.kind === 'admin' || (caller.kind === 'person' && caller.person.id === mandate.grantor)) return;
  throw forbidden('not_permitted', `only the admin or ${mandate.grantor} (who granted it) may see mandate ${mandate.id}`);
}

const ttl = z.union([z.number().int().positive(), z.string().max(20)]).optional().describe('seconds, or a duration such as "15m"');

export const mandateRoutes = [
  route({
    method: 'POST', path: '/api/v1/mandates', tag, access: 'authenticated', status: 201,
    summary: 'Grant a mandate to an agent, as the calling person; answers the mandate and its mandate token',
    body: z.strictObject({
      agent: z.string().min(1).max(128).describe('agent id'),
      purpose: z.string().min(1).max(1000),
      allow: z.array(z.string().min(3).max(200)).min(1).max(200).describe('actions, each <server>/<tool> or <server>/*'),
      ttl,
      max_calls: z.number().int().positive().max(1_000_000_000).optional(),
    }),
    response: z.object({ mandate: MandateView, mandate_token: z.string(), decision: z.object({ policies: z.array(z.string()), policy_set_hash: z.string() }) }),
    handle: async ({ app, caller, body, now }) => {
      if (caller!.kind !== 'person') throw forbidden('person_required', 'a mandate is granted by a person: use a person token (mandate login <user>)');
      const seconds = typeof body.ttl === 'string' ? parseDuration(body.ttl) : body.ttl;
      const { mandate, mandateToken, decision } = await app.mandates.grant(caller!.person, { agentId: body.agent, purpose: body.purpose, allow: body.allow, ttl: seconds, maxCalls: body.max_calls }, now);
      return { mandate: mandateView(mandate), mandate_token: mandateToken, decision: { policies: decision.policies, policy_set_hash: decision.policySetHash } };
    },
  }),
  route({
    method: 'GET', path: '/api/v1/mandates', tag, access: 'authenticated', summary: 'List mandates (a person sees the ones they granted); filter with ?agent= and ?state=',
    response: z.object({ mandates: z.array(MandateView) }),
    handle: async ({ app, caller, query, now }) => {
      const state = query.get('state');
      const filter = {
        ...(query.get('agent') ? { agentId: query.get('agent') as string } : {}),
        ...(caller!.kind === 'person' ? { grantor: caller!.person.id } : {}),
      };
      const mandates = (await app.mandates.list(filter, now)).filter((m) => state === null || m.state === state);
      return { mandates: mandates.map(mandateView) };
    },
  }),
  route({
    method: 'GET', path: '/api/v1/mandates/{id}', tag, access: 'authenticated', summary: 'Show one mandate', response: MandateView,
    handle: async ({ app, caller, params, now }) => {
      const mandate = await app.mandates.get(params.id as string, now);
      requireGrantorOrAdmin(caller!, mandate);
      return mandateView(mandate);
    },
  }),
  route({
    method: 'POST', path: '/api/v1/mandates/{id}/revoke', tag, access: 'authenticated', summary: 'Revoke a mandate: its tokens stop working on their next use',
    body: z.strictObject({ reason: z.string().max(500).optional() }), response: MandateView,
    handle: async ({ app, caller, body, params, now }) => mandateView(await app.mandates.end(caller!, params.id as string, 'revoked', body.reason ?? null, now)),
  }),
  route({
    method: 'POST', path: '/api/v1/mandates/{id}/complete', tag, access: 'authenticated', summary: 'Mark a mandate\'s task complete: its authority ends',
    body: z.strictObject({ reason: z.string().max(500).optional() }), response: MandateView,
    handle: async ({ app, caller, body, params, now }) => mandateView(await app.mandates.end(caller!, params.id as string, 'completed', body.reason ?? null, now)),
  }),
  route({
    method: 'POST', path: '/api/v1/revocations', tag, access: 'authenticated',
    summary: 'Revoke a mandate, every mandate an agent holds, every mandate a person granted (by `target` id), every mandate on a `server`, or `all` (the kill switch; admin only) — each with everything delegated below it',
    body: z.strictObject({
      target: z.string().min(1).max(200).optional().describe('a mandate, agent or person id'),
      server: z.string().min(1).max(64).optional().describe('revoke every mandate naming this server (admin)'),
      all: z.literal(true).optional().describe('revoke every active mandate (admin): the kill switch'),
      reason: z.string().max(500).optional(),
    }),
    response: z.object({ target: z.string(), kind: z.enum(['mandate', 'agent', 'person', 'server', 'all']), revoked: z.array(z.string()) }),
    handle: async ({ app, caller, body, now }) => {
      const given = [body.target !== undefined, body.server !== undefined, body.all === true].filter(Boolean).length;
      if (given !== 1) throw badRequest('invalid_body', 'give exactly one of target, server or all');
      const target = body.all ? { all: true as const } : body.server !== undefined ? { server: body.server } : { id: body.target as string };
      const shown = body.all ? 'all' : body.server !== undefined ? `server ${body.server}` : (body.target as string);
      return { target: shown, ...(await app.mandates.revoke(caller!, target, body.reason ?? null, now)) };
    },
  }),
];
