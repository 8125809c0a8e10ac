// The entity hierarchy of one request: each uid's parents, from the request's
// entities, and every uid's ancestors (transitively), worked out when first asked.
// Both the policy index and the evaluator read it.
import { entityKey } from './values.ts';

interface Uid {
  type: string;
  id: string;
}

const NO_ANCESTORS: ReadonlySet<string> = new Set();

export class Hierarchy {
  readonly #parents = new Map<string, string[]>();
  readonly #ancestors = new Map<string, ReadonlySet<string>>();

  constructor(entities: ReadonlyArray<{ uid: Uid; parents: readonly Uid[] }>) {
    for (const entity of entities) {
      const key = entityKey(entity.uid.type, entity.uid.id);
      const known = this.#parents.get(key);
      const parents = entity.parents.map((p) => entityKey(p.type, p.id));
      this.#parents.set(key, known ? [...known, ...parents] : parents);
    }
  }

  /** The parents `key` lists (none when the request does not hold it). */
  parents(key: string): readonly string[] {
    return this.#parents.get(key) ?? [];
  }

  /** Every ancestor of `key` (transitively), without `key` itself unless it is its own ancestor. */
  ancestors(key: string): ReadonlySet<string> {
    let found = this.#ancestors.get(key);
    if (found) return found;
    const direct = this.parents(key);
    if (direct.length === 0) return NO_ANCESTORS;
    const all = new Set<string>();
    const pending = [...direct];
    while (pending.length > 0) {
      const next = pending.pop() as string;
      if (all.has(next)) continue;
      all.add(next);
      pending.push(...this.parents(next));
    }
    this.#ancestors.set(key, (found = all));
    return found;
  }
}
