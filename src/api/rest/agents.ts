import { z } from 'zod';
import { forbidden } from '../../errors.ts';
import type { Caller } from '../../identity/caller.ts';
import type { Agent } from '../../store/types.ts';
import { AgentView, agentView } from './schemas.ts';
import { route } from './route.ts';

const tag = 'agents';

function requireOwnerOrAdmin(caller: Caller, agent: Agent): void {
  if (caller.kind === 'admin' || (caller.kind === 'person' && caller.person.id === agent.owner)) return;
  throw forbidden('not_permitted', `only the admin or ${agent.owner} (the owner) may manage agent ${agent.name}`);
}

const statusRoute = (verb: 'suspend' | 'retire' | 'activate', status: Agent['status'], summary: string) => route({
  method: 'POST', path: `/api/v1/agents/{id}/${verb}`, tag, access: 'authenticated', summary, response: AgentView,
  handle: async ({ app, caller, params, now }) => {
    requireOwnerOrAdmin(caller!, await app.agents.get(params.id as string));
    const agent = await app.agents.setStatus(params.id as string, status);
    // Retirement is final: the authority the agent held ends with it, and all delegated below.
    if (status === 'retired') await app.mandates.agentRetired(agent, caller!, now);
    return agentView(agent);
  },
});

export const agentRoutes = [
  route({
    method: 'POST', path: '/api/v1/agents', tag, access: 'authenticated', status: 201,
    summary: 'Register an agent; answers its SPIFFE ID and a one-time enrollment token',
    body: z.strictObject({
      name: z.string().min(1).max(128), owner: z.string().min(1).max(128), purpose: z.string().min(1).max(1000),
      environment: z.enum(['dev', 'staging', 'prod']).optional(),
      sponsor: z.string().min(1).max(128).optional().describe('a person who answers for the agent beside its owner: an approver when a policy names `sponsor`'),
    }),
    response: z.object({ agent: AgentView, enrollment_token: z.string(), enrollment_expires_at: z.string() }),
    handle: async ({ app, caller, body, now }) => {
      if (caller!.kind === 'person' && caller!.person.id !== body.owner) throw forbidden('not_permitted', 'a person may only register agents they own');
      if (caller!.kind === 'agent') throw forbidden('not_permitted', 'agents may not register agents');
      const { agent, enrollmentToken, enrollmentExpiresAt } = await app.agents.add(body, now);
      return { agent: agentView(agent), enrollment_token: enrollmentToken, enrollment_expires_at: new Date(enrollmentExpiresAt * 1000).toISOString() };
    },
  }),
  route({
    method: 'POST', path: '/api/v1/agents/enroll', tag, access: 'public',
    summary: 'Agent side: spend the enrollment token to register the public half of the agent\'s key',
    body: z.strictObject({ enrollment_token: z.string().min(1).max(200), jwk: z.record(z.string(), z.unknown()) }),
    response: AgentView,
    handle: async ({ app, body, now }) => agentView(await app.agents.enroll(body.enrollment_token, body.jwk, now)),
  }),
  route({
    method: 'GET', path: '/api/v1/agents', tag, access: 'authenticated', summary: 'List agents (a person sees the agents they own)',
    response: z.object({ agents: z.array(AgentView) }),
    handle: async ({ app, caller }) => ({ agents: (await app.agents.list(caller!.kind === 'person' ? { owner: caller!.person.id } : undefined)).map(agentView) }),
  }),
  route({
    method: 'GET', path: '/api/v1/agents/{id}', tag, access: 'authenticated', summary: 'Show one agent', response: AgentView,
    handle: async ({ app, caller, params }) => {
      const agent = await app.agents.get(params.id as string);
      requireOwnerOrAdmin(caller!, agent);
      return agentView(agent);
    },
  }),
  statusRoute('suspend', 'suspended', 'Suspend an agent: it can no longer authenticate or use its mandates until reactivated'),
  statusRoute('activate', 'active', 'Reactivate a suspended agent'),
  statusRoute('retire', 'retired', 'Retire an agent for good; its active mandates are revoked'),
];
