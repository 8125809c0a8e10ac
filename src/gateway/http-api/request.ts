// The Cedar request for one HTTP request through /proxy/<server>/<path>: principal =
// the agent, action = `http/request` (in the "gateway" group, so the gateway's
// forbids apply), resource = the endpoint (method and path, in its server), context =
// everything a gateway request carries plus the method, the path and the entries of
// the mandate's scope that match them (HttpContext in policies/schema.cedarschema).
// The query parameters are the request's arguments.
import { matchingEntries } from '../../catalog/http-routes.ts';
import { NEW_TASK_FLOW, type TaskFlow } from '../../delegation/task-flow.ts';
import type { AuthorizationRequest, EntityRecord } from '../../policy/engine.ts';
import { actionEntity, callerEntities } from '../../policy/entities.ts';
import type { Server } from '../../store/types.ts';
import { argumentEntities, type ArgumentViews } from '../arguments.ts';
import { gatewayContext } from '../request.ts';
import type { CallerContext } from '../session.ts';

/** The request as a scope entry (`api/GET:/repos/acme`), and the entry for every path of its method. */
export const httpScopeEntries = (server: string, method: string, path: string): { call: string; kindWildcard: string } => ({
  call: `${server}/${method}:${path}`, kindWildcard: `${server}/${method}:/**`,
});

/** The query parameters as the arguments object: a name given once is a string, several times an array. */
export function queryArguments(query: URLSearchParams): Record<string, string | string[]> {
  const args: Record<string, string | string[]> = {};
  for (const name of new Set(query.keys())) {
    const values = query.getAll(name);
    args[name] = values.length === 1 ? values[0] as string : values;
  }
  return args;
}

/** `args`: the arguments' views; absent when no policy reads them (as for MCP requests). `flow`: the task's, as for MCP requests. */
export function httpRequest(caller: CallerContext, server: Server, method: string, path: string, now: number, args?: ArgumentViews, flow: TaskFlow = NEW_TASK_FLOW): AuthorizationRequest {
  const { call, kindWildcard } = httpScopeEntries(server.name, method, path);
  const resource: EntityRecord = {
    uid: { type: 'Endpoint', id: `${server.name}/${method} ${path}` },
    attrs: { server: server.name, method, path },
    parents: [{ type: 'Server', id: server.name }],
  };
  const entities: EntityRecord[] = [...callerEntities(caller, server), resource, actionEntity('http/request')];
  if (args) entities.push(...argumentEntities(args));
  return {
    principal: { type: 'Agent', id: caller.agent.id },
    action: 'http/request',
    resource: resource.uid,
    context: {
      ...gatewayContext(caller, server, { call, kindWildcard }, now, flow),
      method,
      path,
      matched: matchingEntries(caller.scope, server.name, method, path),
    },
    entities,
  };
}
