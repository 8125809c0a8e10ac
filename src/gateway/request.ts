// The Cedar request for one governed MCP request, as the gateway asks it: principal =
// the agent, action = the MCP method (in the "gateway" group), resource = the tool
// (with its labels), prompt or resource in its server, context = the mandate, the
// actor chain, the arguments, the task's history, risk, approvals, the server's
// environment and the time (see GatewayContext in policies/schema.cedarschema).
//
// Decisions are remembered per request, so the request holds only what may change a
// decision and changes no more often than it must: the time in whole seconds, and
// the arguments only when a policy of the set could read them (otherwise no call's
// arguments could change its decision, and they are left out). The audit log keeps
// the request with its argument values redacted (recordedRequest).
import { redactMember, redactText, secretNameKind, type SecretKind } from '../audit/redact.ts';
import { NEW_TASK_FLOW, NO_HISTORY, historyContext, type TaskFlow } from '../delegation/task-flow.ts';
import { isApprovalPolicy } from '../policy/approval-decision.ts';
import { PolicyEngine, type AuthorizationRequest, type EntityRecord, type LoadedPolicy } from '../policy/engine.ts';
import { SENSITIVITY_LEVEL, actionEntity, actorContext, callerEntities, entityValue, mandateContext, timeContext } from '../policy/entities.ts';
import { PolicySet } from '../policy/policy-set.ts';
import type { Server, Tool } from '../store/types.ts';
import { ARGUMENTS_ID, argumentEntities, type ArgumentViews } from './arguments.ts';
import type { CallerContext, GovernedMethod } from './session.ts';

/** The scope entry naming a request, and the one naming all of its kind on the server. */
export function scopeEntries(server: string, method: GovernedMethod, target: string): { call: string; kindWildcard: string } {
  if (method === 'tools/call') return { call: `${server}/${target}`, kindWildcard: `${server}/${target}` };
  if (method === 'prompts/get') return { call: `${server}/prompt:${target}`, kindWildcard: `${server}/prompt:*` };
  return { call: `${server}/resource:*`, kindWildcard: `${server}/resource:*` };
}

/**
 * The request for `method` on `target`. `args`: the arguments' views; absent when no
 * policy reads them (`context.arguments` then names an entity the request leaves out).
 * `flow`: what has flowed in the task so far (`context.history`); by default a task
 * that has just begun.
 */
export function governedRequest(caller: CallerContext, server: Server, method: GovernedMethod, target: string, tool: Tool | undefined, now: number, args?: ArgumentViews, flow: TaskFlow = NEW_TASK_FLOW): AuthorizationRequest {
  const { agent } = caller;
  const { call, kindWildcard } = scopeEntries(server.name, method, target);
  const id = `${server.name}/${target}`;
  const parents = [{ type: 'Server', id: server.name }];
  const sensitivity = tool?.sensitivity ?? 'confidential';
  const resource: EntityRecord = method === 'tools/call'
    ? {
      uid: { type: 'Tool', id },
      attrs: {
        server: server.name, name: target,
        sensitivity, sensitivity_level: SENSITIVITY_LEVEL[sensitivity], effect: tool?.effect ?? 'write', egress: tool?.egress ?? 'external',
        // A tool Mandate has never seen offered counts as new.
        first_seen: tool?.firstSeen ?? now,
      },
      parents,
    }
    : method === 'prompts/get'
      ? { uid: { type: 'Prompt', id }, attrs: { server: server.name, name: target }, parents }
      : { uid: { type: 'Resource', id }, attrs: { server: server.name, uri: target }, parents };
  const entities: EntityRecord[] = [...callerEntities(caller, server), resource, actionEntity(method)];
  if (args) entities.push(...argumentEntities(args));
  return {
    principal: { type: 'Agent', id: agent.id },
    action: method,
    resource: resource.uid,
    context: gatewayContext(caller, server, { call, kindWildcard }, now, flow),
    entities,
  };
}

/**
 * The context of a request at the gateway (GatewayContext in the schema), MCP or HTTP
 * API alike: the mandate, the scope entries the request matches, the server's
 * environment, the actor chain, the arguments, the task's history and the time.
 */
export function gatewayContext(caller: CallerContext, server: Server, entries: { call: string; kindWildcard: string }, now: number, flow: TaskFlow): AuthorizationRequest['context'] {
  return {
    ...mandateContext(caller),
    call: entries.call,
    kind_wildcard: entries.kindWildcard,
    server_wildcard: `${server.name}/*`,
    server_environment: server.environment ?? '',
    ...actorContext(caller),
    arguments: entityValue('Arguments', ARGUMENTS_ID),
    history: flow === NEW_TASK_FLOW ? NO_HISTORY : historyContext(flow),
    // No risk scoring yet; an approval that is used is put here then (approval-step.ts).
    risk: 0,
    approvals: [],
    time: timeContext(now),
  };
}

/**
 * Whether a policy could read a request's arguments: it names them (`arguments`, or
 * an `Argument…` entity type) anywhere in its JSON form, where Cedar's escapes are
 * already decoded. Conservative: a mere string "arguments" counts too.
 */
export function readsArguments(policy: LoadedPolicy): boolean {
  return JSON.stringify(policy.json).toLowerCase().includes('argument');
}

const reading = new WeakMap<PolicyEngine, boolean>();

/** Whether any policy of the set (shadow ones included) could read arguments: only then are they mapped. */
export function setReadsArguments(engine: PolicyEngine): boolean {
  let known = reading.get(engine);
  if (known === undefined) reading.set(engine, (known = engine.policies.some(readsArguments)));
  return known;
}

const listings = new WeakMap<PolicyEngine, PolicyEngine>();

/** Forbids a listing sets aside: those that read arguments, and those an approval can lift. */
const setAsideInListings = (p: LoadedPolicy): boolean => p.effect === 'forbid' && (readsArguments(p) || isApprovalPolicy(p));

/**
 * What decides a listing: a listing has no arguments yet, so the forbids that read
 * arguments are set aside (each call is decided with its arguments); the permits
 * that read them see none. Approval policies are set aside too: what needs approval
 * is listed, as it can be called once approved (the call itself then needs it).
 */
export function listingEngine(engine: PolicyEngine): PolicyEngine {
  if (!engine.policies.some(setAsideInListings)) return engine;
  let listing = listings.get(engine);
  if (!listing) {
    listing = new PolicyEngine(PolicySet.unvalidated(engine.policies.filter((p) => !setAsideInListings(p))));
    listings.set(engine, listing);
  }
  return listing;
}

type TagValue = NonNullable<EntityRecord['tags']>[string];

/**
 * The request as the audit log keeps it. Argument values are redacted: a string as
 * redactValue redacts an object's member (whole under a path one of whose names says
 * it is secret: `db.password`, `credentials.user`), the strings of a set one by one;
 * a number, a decimal or a set under such a path is left out, as no marker fits its
 * type. A resource URI loses its credentials. The decision was made on the
 * request itself; a replay decides on this copy, so a policy that compares a secret's
 * value reads the marker there instead.
 */
export function recordedRequest(request: AuthorizationRequest): { request: AuthorizationRequest; found: SecretKind[] } {
  const found = new Set<SecretKind>();
  const text = (value: string): string => {
    const redacted = redactText(value);
    for (const kind of redacted.found) found.add(kind);
    return redacted.text;
  };
  let resource = request.resource;
  const entities = request.entities.map((entity): EntityRecord => {
    if (entity.uid.type === 'Resource') {
      const uid = { type: entity.uid.type, id: text(entity.uid.id) };
      if (request.resource.type === uid.type && request.resource.id === entity.uid.id) resource = uid;
      return { ...entity, uid, attrs: { ...entity.attrs, ...(typeof entity.attrs.uri === 'string' ? { uri: text(entity.attrs.uri) } : {}) } };
    }
    if (!entity.uid.type.startsWith('Argument') || !entity.tags) return entity;
    const tags: Record<string, TagValue> = Object.create(null) as Record<string, TagValue>;
    for (const [path, value] of Object.entries(entity.tags)) {
      const names = path.split('.').filter((name) => !/^\d+$/.test(name));
      const secretName = names.find((name) => secretNameKind(name) !== null);
      if (typeof value === 'string') {
        const redacted = redactMember(secretName ?? names.at(-1) ?? '', value);
        for (const kind of redacted.found) found.add(kind);
        tags[path] = redacted.value as string;
      } else if (secretName !== undefined && typeof value !== 'boolean') {
        found.add(secretNameKind(secretName) as SecretKind);
      } else {
        tags[path] = Array.isArray(value) ? value.map((item) => (typeof item === 'string' ? text(item) : item)) : value;
      }
    }
    return { ...entity, tags };
  });
  return { request: { ...request, resource, entities }, found: [...found].sort() };
}
