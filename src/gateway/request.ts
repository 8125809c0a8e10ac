// The Cedar request for one governed MCP request, as the gateway asks it: principal =
// the agent, action = the MCP method, resource = the tool (with its labels), prompt
// or resource in its server, context = the mandate and the server's environment.
import type { AuthorizationRequest, EntityRecord } from '../policy/engine.ts';
import type { Server, Tool } from '../store/types.ts';
import type { CallerContext, GovernedMethod } from './session.ts';

/** The scope entry naming a request, and the one naming all of its kind on the server. */
export function scopeEntries(server: string, method: GovernedMethod, target: string): { call: string; kindWildcard: string } {
  if (method === 'tools/call') return { call: `${server}/${target}`, kindWildcard: `${server}/${target}` };
  if (method === 'prompts/get') return { call: `${server}/prompt:${target}`, kindWildcard: `${server}/prompt:*` };
  return { call: `${server}/resource:*`, kindWildcard: `${server}/resource:*` };
}

export function governedRequest(caller: CallerContext, server: Server, method: GovernedMethod, target: string, tool: Tool | undefined, now: number): AuthorizationRequest {
  const { agent } = caller;
  const { call, kindWildcard } = scopeEntries(server.name, method, target);
  const id = `${server.name}/${target}`;
  const parents = [{ type: 'Server', id: server.name }];
  const resource: EntityRecord = method === 'tools/call'
    ? {
      uid: { type: 'Tool', id },
      attrs: {
        server: server.name, name: target,
        sensitivity: tool?.sensitivity ?? 'confidential', effect: tool?.effect ?? 'write', egress: tool?.egress ?? 'external',
        // A tool Mandate has never seen offered counts as new.
        first_seen: tool?.firstSeen ?? now,
      },
      parents,
    }
    : method === 'prompts/get'
      ? { uid: { type: 'Prompt', id }, attrs: { server: server.name, name: target }, parents }
      : { uid: { type: 'Resource', id }, attrs: { server: server.name, uri: target }, parents };
  return {
    principal: { type: 'Agent', id: agent.id },
    action: method,
    resource: resource.uid,
    context: {
      mandate: caller.mandateId,
      purpose: caller.purpose,
      scope: caller.scope,
      call,
      kind_wildcard: kindWildcard,
      server_wildcard: `${server.name}/*`,
      granted_at: caller.grantedAt,
      server_environment: server.environment ?? '',
    },
    entities: [
      { uid: { type: 'Agent', id: agent.id }, attrs: { owner: { __entity: { type: 'Person', id: agent.owner } }, environment: agent.environment, status: agent.status }, parents: [] },
      { uid: { type: 'Server', id: server.name }, attrs: {}, parents: [] },
      resource,
    ],
  };
}
