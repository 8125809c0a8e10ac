// What a policy set can observe of a request, and the request cut down to it. Cedar
// reads context only along the paths a policy writes (`context.time.hour`,
// `context has mandate`), and an entity attribute only by its name
// (`principal.owner`), so what no policy of the set reads cannot change any of its
// decisions: leaving it out gives the same decisions, reasons and errors, on a
// smaller request. Smaller requests cost less to evaluate, and are remembered better:
// the decision point remembers answers by the whole request, so a field no policy
// reads (the time, the mandate id, the arguments) no longer makes each request new.
//
// Conservative by construction. Context: a path a policy uses as a value is kept
// whole (`context.time` compared whole keeps all of it; `context.time.hour` keeps the
// hour), and a policy that uses `context` itself as a value keeps the whole context.
// Entities: every string of the set's JSON form (keys and values, Cedar's escapes
// decoded) counts as an attribute name it may read; entities are never compared by
// their attributes, so cutting them by name is exact. An entity left with no
// attributes, parents or tags answers every question as an absent one does, and is
// left out.
import type { AuthorizationRequest, EntityRecord } from './decision-point.ts';
import type { LoadedPolicy } from './policy-set.ts';

/** Context paths a set reads: a node read whole, or the fields of it that are read. */
export interface ContextPaths {
  whole: boolean;
  fields: Map<string, ContextPaths>;
}

export interface PolicyReads {
  /** Every string in the set's policies: the entity attribute names it may read, and more. */
  names: ReadonlySet<string>;
  /** The context paths it reads (`whole`: all of the context). */
  context: ContextPaths;
}

type Node = Record<string, unknown>;
const isNode = (value: unknown): value is Node => typeof value === 'object' && value !== null && !Array.isArray(value);
const isContext = (node: unknown): boolean => isNode(node) && node.Var === 'context' && Object.keys(node).length === 1;

/** `context.a.b` as ["a", "b"]; undefined for anything else. */
function contextChain(node: unknown): string[] | undefined {
  if (isContext(node)) return [];
  if (!isNode(node) || !isNode(node['.']) || typeof node['.'].attr !== 'string') return undefined;
  const left = contextChain(node['.'].left);
  return left && [...left, node['.'].attr];
}

function markRead(paths: ContextPaths, chain: readonly string[]): void {
  let at = paths;
  for (const name of chain) {
    if (at.whole) return;
    let next = at.fields.get(name);
    if (!next) at.fields.set(name, (next = { whole: false, fields: new Map() }));
    at = next;
  }
  at.whole = true;
  at.fields.clear();
}

function collect(node: unknown, names: Set<string>, paths: ContextPaths): void {
  if (typeof node === 'string') {
    names.add(node);
    return;
  }
  if (Array.isArray(node)) {
    for (const item of node) collect(item, names, paths);
    return;
  }
  if (!isNode(node)) return;
  if (isContext(node)) {
    markRead(paths, []);
    return;
  }
  const chain = contextChain(node);
  if (chain) {
    markRead(paths, chain);
    for (const name of chain) names.add(name);
    return;
  }
  if (isNode(node.has) && contextChain(node.has.left)) {
    // `context.a has b` (or `has b.c`): what it asks about is kept whole.
    const attr = node.has.attr;
    const tail = Array.isArray(attr) ? attr.filter((a): a is string => typeof a === 'string') : typeof attr === 'string' ? [attr] : [];
    markRead(paths, [...(contextChain(node.has.left) as string[]), ...tail]);
    collect(attr, names, paths);
    names.add('has');
    return;
  }
  for (const [key, value] of Object.entries(node)) {
    names.add(key);
    collect(value, names, paths);
  }
}

/** What the policies can read of a request. */
export function policyReads(policies: readonly LoadedPolicy[]): PolicyReads {
  const names = new Set<string>();
  const context: ContextPaths = { whole: false, fields: new Map() };
  // Only conditions read anything; the scope names entities, never their attributes.
  for (const policy of policies) collect(policy.json.conditions, names, context);
  return { names, context };
}

type Json = AuthorizationRequest['context'][string];

/** A plain record (not an entity reference or an extension value), whose fields can be cut. */
const isRecord = (value: Json): value is Record<string, Json> => isNode(value) && !('__entity' in value) && !('__extn' in value);

function projectRecord(record: Record<string, Json>, paths: ContextPaths): Record<string, Json> {
  const kept: Record<string, Json> = {};
  for (const [name, value] of Object.entries(record)) {
    const read = paths.fields.get(name);
    if (!read) continue;
    kept[name] = read.whole || !isRecord(value) ? value : projectRecord(value, read);
  }
  return kept;
}

const uidKey = (type: string, id: string): string => `${type}\u0000${id}`;

/** Every entity a value refers to (`{"__entity": …}` anywhere in it). */
function references(value: unknown, found: string[]): void {
  if (Array.isArray(value)) {
    for (const item of value) references(item, found);
    return;
  }
  if (!isNode(value)) return;
  const ref = value.__entity;
  if (isNode(ref) && typeof ref.type === 'string' && typeof ref.id === 'string') {
    found.push(uidKey(ref.type, ref.id));
    return;
  }
  for (const item of Object.values(value)) references(item, found);
}

/**
 * The request with only what the set can read: the same decision, on less. Entities
 * are kept when the request reaches them — from the principal, action, resource,
 * the context kept and the attributes and parents of entities kept — or when a
 * policy names their type (an entity literal); the rest no policy can observe.
 */
export function project(request: AuthorizationRequest, reads: PolicyReads): AuthorizationRequest {
  const context = reads.context.whole ? request.context : projectRecord(request.context, reads.context);
  const byUid = new Map<string, { entity: EntityRecord; attrs: EntityRecord['attrs'] }>();
  for (const entity of request.entities) {
    const attrs: EntityRecord['attrs'] = {};
    for (const [name, value] of Object.entries(entity.attrs)) if (reads.names.has(name)) attrs[name] = value;
    byUid.set(uidKey(entity.uid.type, entity.uid.id), { entity, attrs });
  }
  const reached = new Set<string>();
  const pending = [uidKey(request.principal.type, request.principal.id), uidKey('Action', request.action), uidKey(request.resource.type, request.resource.id)];
  references(context, pending);
  for (const entity of request.entities) if (reads.names.has(entity.uid.type)) pending.push(uidKey(entity.uid.type, entity.uid.id));
  while (pending.length > 0) {
    const key = pending.pop() as string;
    if (reached.has(key)) continue;
    reached.add(key);
    const known = byUid.get(key);
    if (!known) continue;
    references(known.attrs, pending);
    for (const parent of known.entity.parents) pending.push(uidKey(parent.type, parent.id));
  }
  const entities: EntityRecord[] = [];
  for (const entity of request.entities) {
    const { attrs } = byUid.get(uidKey(entity.uid.type, entity.uid.id)) as { attrs: EntityRecord['attrs'] };
    if (!reached.has(uidKey(entity.uid.type, entity.uid.id))) continue;
    const tags = entity.tags && Object.keys(entity.tags).length > 0 ? entity.tags : undefined;
    if (Object.keys(attrs).length === 0 && entity.parents.length === 0 && !tags) continue;
    entities.push(tags ? { uid: entity.uid, attrs, parents: entity.parents, tags } : { uid: entity.uid, attrs, parents: entity.parents });
  }
  return { principal: request.principal, action: request.action, resource: request.resource, context, entities };
}
