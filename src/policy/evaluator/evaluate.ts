// Cedar's authorization, in process, for policies whose scope already matched (the
// index found them): each policy's conditions are evaluated in order, `when` must be
// true and `unless` false; a policy whose evaluation fails is skipped and reported.
// Any satisfied forbid denies (the satisfied forbids determine it); otherwise any
// satisfied permit allows (the satisfied permits determine it); otherwise deny.
// A request this evaluator cannot read exactly as Cedar would (duplicate entities, a
// cycle in the hierarchy, values it does not handle) is refused with Unsupported.
import type * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { Hierarchy } from './hierarchy.ts';
import { compile, EvaluationError, type Expression, type Scope, type StoredEntity } from './expressions.ts';
import { EntityValue, RecordValue, Unsupported, checkJson, checkTypeName, entityKey, fromJson, type Value } from './values.ts';

export { Unsupported };

export interface CompiledPolicy {
  id: string;
  effect: 'permit' | 'forbid';
  /** Each clause as a test: true when it holds (a `when` that is true, an `unless` that is false). */
  clauses: Array<(scope: Scope) => boolean>;
}

/** A policy's conditions, compiled; throws Unsupported when any of them uses what the evaluator lacks. */
export function compilePolicy(id: string, json: cedar.PolicyJson): CompiledPolicy {
  const clauses = json.conditions.map((condition) => {
    const body: Expression = compile(condition.body);
    const when = condition.kind === 'when';
    return (scope: Scope): boolean => {
      const value = body(scope);
      if (typeof value !== 'boolean') throw new EvaluationError('type error: a condition must be a bool');
      return value === when;
    };
  });
  return { id, effect: json.effect, clauses };
}

export interface RequestInput {
  principal: { type: string; id: string };
  action: { type: string; id: string };
  resource: { type: string; id: string };
  context: unknown;
  entities: ReadonlyArray<{ uid: { type: string; id: string }; attrs: Record<string, unknown>; parents: ReadonlyArray<{ type: string; id: string }>; tags?: Record<string, unknown> }>;
}


/** An entity's attributes or tags, checked whole up front and converted when first read. */
class LazyValues {
  readonly #json: Record<string, unknown>;
  readonly #values = new Map<string, Value>();

  constructor(json: Record<string, unknown> | undefined) {
    this.#json = json ?? {};
    for (const key in this.#json) checkJson(this.#json[key]);
  }

  get(key: string): Value | undefined {
    let value = this.#values.get(key);
    if (value === undefined && Object.hasOwn(this.#json, key)) {
      value = fromJson(this.#json[key]);
      this.#values.set(key, value);
    }
    return value;
  }

  has(key: string): boolean {
    return Object.hasOwn(this.#json, key);
  }
}

/** The request's entities as Cedar would hold them; throws Unsupported where it would not match Cedar exactly. */
class EntityStore {
  readonly #entities = new Map<string, StoredEntity>();
  readonly hierarchy: Hierarchy;

  constructor(entities: RequestInput['entities']) {
    for (const entity of entities) {
      const key = entityKey(checkTypeName(entity.uid.type), entity.uid.id);
      if (this.#entities.has(key)) throw new Unsupported('an entity listed twice');
      for (const parent of entity.parents) checkTypeName(parent.type);
      this.#entities.set(key, { attrs: new LazyValues(entity.attrs), tags: new LazyValues(entity.tags) });
    }
    this.hierarchy = new Hierarchy(entities);
    this.#refuseCycles();
  }

  /** Cedar refuses a request whose hierarchy has a cycle anywhere; so does this store (Cedar then answers). */
  #refuseCycles(): void {
    // Only edges between entities the request holds can close a cycle.
    let inner = false;
    for (const key of this.#entities.keys()) if (this.hierarchy.parents(key).some((parent) => this.#entities.has(parent))) inner = true;
    if (!inner) return;
    const state = new Map<string, 1 | 2>(); // 1: on the path, 2: done
    for (const start of this.#entities.keys()) {
      if (state.has(start)) continue;
      const stack: Array<{ key: string; next: number }> = [{ key: start, next: 0 }];
      state.set(start, 1);
      while (stack.length > 0) {
        const frame = stack[stack.length - 1] as { key: string; next: number };
        const parents = this.hierarchy.parents(frame.key);
        if (frame.next >= parents.length) {
          state.set(frame.key, 2);
          stack.pop();
          continue;
        }
        const parent = parents[frame.next++] as string;
        const seen = state.get(parent);
        if (seen === 1) throw new Unsupported('a cycle in the entity hierarchy');
        if (seen === undefined) {
          state.set(parent, 1);
          stack.push({ key: parent, next: 0 });
        }
      }
    }
  }

  entity(key: string): StoredEntity | undefined {
    return this.#entities.get(key);
  }
}

export interface InProcessAnswer {
  decision: 'allow' | 'deny';
  reasons: string[];
  /** `<policy id>: <message>` for each policy whose evaluation failed. */
  errors: string[];
}

/** A request as the evaluator reads it, with its entities' ancestors (for the policy index too). */
export interface RequestView extends Scope {
  ancestors(key: string): ReadonlySet<string>;
}

/** Reads a request for the evaluator; throws Unsupported when Cedar must be asked instead. */
export function readRequest(request: RequestInput): RequestView {
  const context = fromJson(request.context);
  if (!(context instanceof RecordValue)) throw new Unsupported('a context that is not a record');
  const store = new EntityStore(request.entities);
  return {
    principal: new EntityValue(checkTypeName(request.principal.type), request.principal.id),
    action: new EntityValue(request.action.type, request.action.id),
    resource: new EntityValue(checkTypeName(request.resource.type), request.resource.id),
    context,
    entity: (key) => store.entity(key),
    within: (descendant, ancestor) => descendant.key === ancestor.key || store.hierarchy.ancestors(descendant.key).has(ancestor.key),
    ancestors: (key) => store.hierarchy.ancestors(key),
  };
}

/** Cedar's answer over policies whose scope matched the request. */
export function authorize(scope: Scope, policies: readonly CompiledPolicy[]): InProcessAnswer {
  const permits: string[] = [];
  const forbids: string[] = [];
  const errors: string[] = [];
  for (const policy of policies) {
    let satisfied = true;
    try {
      for (const clause of policy.clauses) {
        if (!clause(scope)) {
          satisfied = false;
          break;
        }
      }
    } catch (error) {
      if (!(error instanceof EvaluationError)) throw error;
      errors.push(`${policy.id}: ${error.message}`);
      continue;
    }
    if (satisfied) (policy.effect === 'forbid' ? forbids : permits).push(policy.id);
  }
  if (forbids.length > 0) return { decision: 'deny', reasons: forbids.sort(), errors: errors.sort() };
  if (permits.length > 0) return { decision: 'allow', reasons: permits.sort(), errors: errors.sort() };
  return { decision: 'deny', reasons: [], errors: errors.sort() };
}
