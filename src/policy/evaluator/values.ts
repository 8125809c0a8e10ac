// Cedar values as the in-process evaluator holds them, read from the JSON forms a
// request carries (context, entity attributes and tags). Long is a bigint so that
// arithmetic is exactly Cedar's 64-bit arithmetic. What this reader does not know
// (extension values, non-integers, escapes it does not handle) is refused with
// `Unsupported`, and the request then goes to cedar-wasm instead.

export class EntityValue {
  readonly type: string;
  readonly id: string;
  /** `type` and `id` as one string, the entity's identity. */
  readonly key: string;
  constructor(type: string, id: string) {
    this.type = type;
    this.id = id;
    this.key = entityKey(type, id);
  }
}

export class SetValue {
  readonly items: readonly Value[];
  constructor(items: readonly Value[]) {
    this.items = items;
  }
  has(value: Value): boolean {
    return this.items.some((item) => equal(item, value));
  }
}

export class RecordValue {
  readonly fields: ReadonlyMap<string, Value>;
  constructor(fields: ReadonlyMap<string, Value>) {
    this.fields = fields;
  }
}

export type Value = boolean | bigint | string | EntityValue | SetValue | RecordValue;

export const entityKey = (type: string, id: string): string => `${type}\u0000${id}`;

const NAME = /^[_a-zA-Z][_a-zA-Z0-9]*(::[_a-zA-Z][_a-zA-Z0-9]*)*$/;
const RESERVED = new Set(['true', 'false', 'if', 'then', 'else', 'in', 'is', 'like', 'has', '__cedar']);

/** An entity type name as Cedar accepts it; anything else is for Cedar to refuse. */
export function checkTypeName(type: string): string {
  if (knownNames.has(type)) return type;
  if (!NAME.test(type) || type.split('::').some((part) => RESERVED.has(part))) throw new Unsupported(`the entity type name ${type}`);
  if (knownNames.size >= 10_000) knownNames.clear();
  knownNames.add(type);
  return type;
}

const knownNames = new Set<string>();

/**
 * Throws Unsupported for anything `fromJson` would refuse, without building values:
 * Cedar refuses a whole request for one bad value anywhere, so every value is checked
 * even when only some are ever read.
 */
export function checkJson(json: unknown, depth = 0): void {
  if (depth > 32) throw new Unsupported('value nested too deeply');
  switch (typeof json) {
    case 'boolean':
    case 'string':
      return;
    case 'number':
      if (!Number.isSafeInteger(json)) throw new Unsupported('a number that is not a safe integer');
      return;
    case 'object': {
      if (json === null) throw new Unsupported('null');
      if (Array.isArray(json)) {
        for (const item of json) checkJson(item, depth + 1);
        return;
      }
      const record = json as Record<string, unknown>;
      for (const key in record) {
        if (key.startsWith('__')) {
          if (key === '__entity' && Object.keys(record).length === 1) {
            entityFromJson(record.__entity);
            return;
          }
          throw new Unsupported('an escape the evaluator does not read');
        }
        checkJson(record[key], depth + 1);
      }
      return;
    }
    default:
      throw new Unsupported(`a ${typeof json} value`);
  }
}

/** Something the in-process evaluator does not handle: Cedar itself must be asked. */
export class Unsupported extends Error {}

export const I64_MIN = -(2n ** 63n);
export const I64_MAX = 2n ** 63n - 1n;

/** A JSON value (as in a request's context or an entity's attributes) as a Cedar value. */
export function fromJson(json: unknown, depth = 0): Value {
  if (depth > 32) throw new Unsupported('value nested too deeply');
  switch (typeof json) {
    case 'boolean':
    case 'string':
      return json;
    case 'number':
      if (!Number.isSafeInteger(json)) throw new Unsupported('a number that is not a safe integer');
      return BigInt(json);
    case 'object': {
      if (json === null) throw new Unsupported('null');
      if (Array.isArray(json)) return new SetValue(json.map((item) => fromJson(item, depth + 1)));
      const record = json as Record<string, unknown>;
      const keys = Object.keys(record);
      if (keys.length === 1 && keys[0] === '__entity') return entityFromJson(record.__entity);
      if (keys.some((key) => key.startsWith('__'))) throw new Unsupported('an escape the evaluator does not read');
      const fields = new Map<string, Value>();
      for (const key of keys) fields.set(key, fromJson(record[key], depth + 1));
      return new RecordValue(fields);
    }
    default:
      throw new Unsupported(`a ${typeof json} value`);
  }
}

export function entityFromJson(json: unknown): EntityValue {
  const uid = json as { type?: unknown; id?: unknown } | null;
  if (typeof uid !== 'object' || uid === null || typeof uid.type !== 'string' || typeof uid.id !== 'string' || Object.keys(uid).length !== 2) {
    throw new Unsupported('an entity reference of another shape');
  }
  return new EntityValue(checkTypeName(uid.type), uid.id);
}

/** Cedar's `==`: structural, never an error; values of different types are unequal. */
export function equal(a: Value, b: Value): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object') return false;
  if (a instanceof EntityValue) return b instanceof EntityValue && a.key === b.key;
  if (a instanceof SetValue) {
    return b instanceof SetValue && a.items.every((item) => b.has(item)) && b.items.every((item) => a.has(item));
  }
  if (!(b instanceof RecordValue) || a.fields.size !== b.fields.size) return false;
  for (const [key, value] of a.fields) {
    const other = b.fields.get(key);
    if (other === undefined || !equal(value, other)) return false;
  }
  return true;
}
