// Which policies of a set could apply to a request, found without evaluating any:
// every policy is filed under the keys its scope (principal, action, resource)
// accepts, and a request looks up the keys it presents — its own uids, the uids of
// all its ancestors in the entity hierarchy, its types, and "any". What the lookup
// misses is exactly what Cedar would skip: a policy whose scope does not match is
// never satisfied and never evaluates its conditions, so it cannot decide, be a
// reason or raise an error. Forbids are filed like permits and so always found.
import type * as cedar from '@cedar-policy/cedar-wasm/nodejs';

export interface EntityRef {
  type: string;
  id: string;
}

/** The scope keys a policy accepts for one of principal, action, resource. */
type ScopeKeys = string[];

const ANY = '*';
import { entityKey as uidKey } from './evaluator/values.ts';
const isKey = (type: string): string => `is\u0000${type}`;
const isInKey = (type: string, ancestor: string): string => `is\u0000${type}\u0000in\u0000${ancestor}`;
const inKey = (ancestor: string): string => `in\u0000${ancestor}`;

function uidOf(json: cedar.EntityUidJson): string {
  const uid = '__entity' in json ? json.__entity : json;
  return uidKey(uid.type, uid.id);
}

/** Keys for a principal or resource constraint. `==` and `in` differ: `in` also accepts descendants. */
function entityScopeKeys(constraint: cedar.PrincipalConstraint | cedar.ResourceConstraint): ScopeKeys {
  switch (constraint.op) {
    case 'All': return [ANY];
    case '==': return 'entity' in constraint ? [uidOf(constraint.entity)] : [ANY];
    case 'in': return 'entity' in constraint ? [inKey(uidOf(constraint.entity))] : [ANY];
    case 'is': {
      const inner = constraint.in;
      if (inner && 'entity' in inner) return [isInKey(constraint.entity_type, uidOf(inner.entity))];
      return [isKey(constraint.entity_type)];
    }
  }
}

function actionScopeKeys(constraint: cedar.ActionConstraint): ScopeKeys {
  switch (constraint.op) {
    case 'All': return [ANY];
    case '==': return 'entity' in constraint ? [uidOf(constraint.entity)] : [ANY];
    case 'in': return 'entity' in constraint ? [inKey(uidOf(constraint.entity))] : constraint.entities.map((e) => inKey(uidOf(e)));
  }
}

/** The keys a request's principal or resource presents, given its ancestors (uid keys). */
function entityRequestKeys(type: string, self: string, ancestors: Iterable<string>): string[] {
  const keys = [ANY, self, isKey(type), inKey(self), isInKey(type, self)];
  for (const ancestor of ancestors) keys.push(inKey(ancestor), isInKey(type, ancestor));
  return keys;
}

function actionRequestKeys(self: string, ancestors: Iterable<string>): string[] {
  const keys = [ANY, self, inKey(self)];
  for (const ancestor of ancestors) keys.push(inKey(ancestor));
  return keys;
}

/** Policies filed by action key, then principal key, then resource key. */
export class PolicyIndex<P> {
  readonly #byAction = new Map<string, Map<string, Map<string, P[]>>>();
  readonly size: number;

  constructor(policies: ReadonlyArray<{ policy: P; json: cedar.PolicyJson }>) {
    for (const { policy, json } of policies) {
      for (const a of actionScopeKeys(json.action)) {
        let byPrincipal = this.#byAction.get(a);
        if (!byPrincipal) this.#byAction.set(a, (byPrincipal = new Map()));
        for (const p of entityScopeKeys(json.principal)) {
          let byResource = byPrincipal.get(p);
          if (!byResource) byPrincipal.set(p, (byResource = new Map()));
          for (const r of entityScopeKeys(json.resource)) {
            const list = byResource.get(r);
            if (list) list.push(policy);
            else byResource.set(r, [policy]);
          }
        }
      }
    }
    this.size = policies.length;
  }

  /** Every policy whose scope accepts this principal, action and resource, each once. */
  candidates(principal: EntityRef, action: EntityRef, resource: EntityRef, ancestors: (key: string) => Iterable<string>): Set<P> {
    const found = new Set<P>();
    const principalSelf = uidKey(principal.type, principal.id);
    const actionSelf = uidKey(action.type, action.id);
    const resourceSelf = uidKey(resource.type, resource.id);
    const principalKeys = entityRequestKeys(principal.type, principalSelf, ancestors(principalSelf));
    const resourceKeys = entityRequestKeys(resource.type, resourceSelf, ancestors(resourceSelf));
    for (const byPrincipal of matching(this.#byAction, actionRequestKeys(actionSelf, ancestors(actionSelf)))) {
      for (const byResource of matching(byPrincipal, principalKeys)) {
        for (const list of matching(byResource, resourceKeys)) for (const policy of list) found.add(policy);
      }
    }
    return found;
  }
}

/** The entries of `map` under any of `keys`: by lookup, or by a walk when the map is the smaller. */
function* matching<V>(map: ReadonlyMap<string, V>, keys: readonly string[]): Generator<V> {
  if (map.size < keys.length) {
    for (const [key, value] of map) if (keys.includes(key)) yield value;
    return;
  }
  for (const key of keys) {
    const value = map.get(key);
    if (value !== undefined) yield value;
  }
}
