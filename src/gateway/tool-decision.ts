// The Cedar request for one tool, as the gateway asks it: principal = the agent,
// resource = the tool (with its labels, in its server), context = the mandate.
import type { AuthorizationRequest } from '../policy/engine.ts';
import type { Agent, Tool } from '../store/types.ts';
import type { CallerContext } from './session.ts';

export interface ToolSubject {
  caller: CallerContext;
  agent: Agent;
  grantedAt: number;
}

export function toolCallRequest(subject: ToolSubject, server: string, toolName: string, tool: Tool | undefined, now: number): AuthorizationRequest {
  const { caller, agent } = subject;
  return {
    principal: { type: 'Agent', id: agent.id },
    action: 'tools/call',
    resource: { type: 'Tool', id: `${server}/${toolName}` },
    context: {
      mandate: caller.mandateId,
      purpose: caller.purpose,
      scope: caller.scope,
      call: `${server}/${toolName}`,
      server_wildcard: `${server}/*`,
      granted_at: subject.grantedAt,
    },
    entities: [
      { uid: { type: 'Agent', id: agent.id }, attrs: { owner: { __entity: { type: 'Person', id: agent.owner } }, environment: agent.environment, status: agent.status }, parents: [] },
      { uid: { type: 'Server', id: server }, attrs: {}, parents: [] },
      {
        uid: { type: 'Tool', id: `${server}/${toolName}` },
        attrs: {
          server, name: toolName,
          sensitivity: tool?.sensitivity ?? 'confidential', effect: tool?.effect ?? 'write', egress: tool?.egress ?? 'external',
          // A tool Mandate has never seen offered counts as new.
          first_seen: tool?.firstSeen ?? now,
        },
        parents: [{ type: 'Server', id: server }],
      },
    ],
  };
}
