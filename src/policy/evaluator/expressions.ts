// Cedar expressions (the JSON form cedar-wasm's policyToJson gives) compiled once
// into closures. The semantics are Cedar's own: strict types (a wrong type is an
// error, not false), checked 64-bit arithmetic, short-circuit `&&`, `||` and
// `if`, attribute access on an entity the request does not hold is an error while
// `has` on it is false, `in` through the transitive hierarchy. An expression this
// compiler does not know (extension functions, slots, unknowns) makes the policy
// unsupported here: requests it could apply to are decided by cedar-wasm.
import { EntityValue, I64_MAX, I64_MIN, RecordValue, SetValue, Unsupported, entityFromJson, equal, fromJson, type Value } from './values.ts';

/** An error while evaluating a policy: Cedar skips that policy and reports it. */
export class EvaluationError extends Error {}

/** What an expression reads of an entity: attribute or tag values by name. */
export interface EntityData {
  get(name: string): Value | undefined;
  has(name: string): boolean;
}

export interface StoredEntity {
  attrs: EntityData;
  tags: EntityData;
}

/** What an expression is evaluated against. */
export interface Scope {
  principal: EntityValue;
  action: EntityValue;
  resource: EntityValue;
  context: RecordValue;
  entity(key: string): StoredEntity | undefined;
  /** Whether `descendant` is `ancestor` or below it in the hierarchy. */
  within(descendant: EntityValue, ancestor: EntityValue): boolean;
}

export type Expression = (scope: Scope) => Value;

const typeError = (expected: string, got: Value): EvaluationError => new EvaluationError(`type error: expected ${expected}, got ${describe(got)}`);

function describe(value: Value): string {
  if (typeof value === 'boolean') return 'bool';
  if (typeof value === 'bigint') return 'long';
  if (typeof value === 'string') return 'string';
  if (value instanceof EntityValue) return `entity of type ${value.type}`;
  return value instanceof SetValue ? 'set' : 'record';
}

const asBool = (value: Value): boolean => {
  if (typeof value !== 'boolean') throw typeError('bool', value);
  return value;
};
const asLong = (value: Value): bigint => {
  if (typeof value !== 'bigint') throw typeError('long', value);
  return value;
};
const asString = (value: Value): string => {
  if (typeof value !== 'string') throw typeError('string', value);
  return value;
};
const asEntity = (value: Value): EntityValue => {
  if (!(value instanceof EntityValue)) throw typeError('entity', value);
  return value;
};
const asSet = (value: Value): SetValue => {
  if (!(value instanceof SetValue)) throw typeError('set', value);
  return value;
};

function checked(result: bigint): bigint {
  if (result < I64_MIN || result > I64_MAX) throw new EvaluationError('integer overflow');
  return result;
}

type Node = Record<string, unknown>;
type Binary = { left: Node; right: Node };

/** `like`: the pattern's literals and wildcards as an anchored regular expression. */
function likePattern(pattern: unknown): RegExp {
  if (!Array.isArray(pattern)) throw new Unsupported('a like pattern of another shape');
  const source = pattern.map((part: unknown) => {
    if (part === 'Wildcard') return '[\\s\\S]*';
    const literal = (part as { Literal?: unknown } | null)?.Literal;
    if (typeof literal !== 'string') throw new Unsupported('a like pattern of another shape');
    return literal.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }).join('');
  return new RegExp(`^${source}$`, 'u');
}

const BINARY_LONG: Record<string, (a: bigint, b: bigint) => Value> = {
  '<': (a, b) => a < b,
  '<=': (a, b) => a <= b,
  '>': (a, b) => a > b,
  '>=': (a, b) => a >= b,
  '+': (a, b) => checked(a + b),
  '-': (a, b) => checked(a - b),
  '*': (a, b) => checked(a * b),
};

function within(scope: Scope, left: Value, right: Value): boolean {
  const entity = asEntity(left);
  if (right instanceof SetValue) {
    const ancestors = right.items.map(asEntity); // every member must be an entity
    return ancestors.some((ancestor) => scope.within(entity, ancestor));
  }
  return scope.within(entity, asEntity(right));
}

function attribute(scope: Scope, target: Value, attr: string): Value {
  if (target instanceof RecordValue) {
    const value = target.fields.get(attr);
    if (value === undefined) throw new EvaluationError(`record does not have the attribute \`${attr}\``);
    return value;
  }
  const entity = asEntity(target);
  const stored = scope.entity(entity.key);
  if (!stored) throw new EvaluationError(`entity \`${entity.type}::"${entity.id}"\` does not exist`);
  const value = stored.attrs.get(attr);
  if (value === undefined) throw new EvaluationError(`\`${entity.type}::"${entity.id}"\` does not have the attribute \`${attr}\``);
  return value;
}

function hasAttribute(scope: Scope, target: Value, attr: string): boolean {
  if (target instanceof RecordValue) return target.fields.has(attr);
  return scope.entity(asEntity(target).key)?.attrs.has(attr) ?? false;
}

/** Compiles one expression node; throws Unsupported for anything it does not know. */
export function compile(node: unknown): Expression {
  if (typeof node !== 'object' || node === null || Array.isArray(node)) throw new Unsupported('an expression of another shape');
  const keys = Object.keys(node);
  if (keys.length !== 1) throw new Unsupported('an expression of another shape');
  const op = keys[0] as string;
  const arg = (node as Node)[op] as Node;
  const binary = () => [compile((arg as Binary).left), compile((arg as Binary).right)] as const;
  switch (op) {
    case 'Value': {
      const value = fromJson(arg);
      return () => value;
    }
    case 'Var': {
      const name = arg as unknown as string;
      if (name === 'principal') return (s) => s.principal;
      if (name === 'action') return (s) => s.action;
      if (name === 'resource') return (s) => s.resource;
      if (name === 'context') return (s) => s.context;
      throw new Unsupported(`the variable ${String(name)}`);
    }
    case '!': {
      const inner = compile((arg as { arg: Node }).arg);
      return (s) => !asBool(inner(s));
    }
    case 'neg': {
      const inner = compile((arg as { arg: Node }).arg);
      return (s) => checked(-asLong(inner(s)));
    }
    case '&&': {
      const [left, right] = binary();
      return (s) => asBool(left(s)) && asBool(right(s));
    }
    case '||': {
      const [left, right] = binary();
      return (s) => asBool(left(s)) || asBool(right(s));
    }
    case '==': {
      const [left, right] = binary();
      return (s) => equal(left(s), right(s));
    }
    case '!=': {
      const [left, right] = binary();
      return (s) => !equal(left(s), right(s));
    }
    case '<': case '<=': case '>': case '>=': case '+': case '-': case '*': {
      const [left, right] = binary();
      const apply = BINARY_LONG[op] as (a: bigint, b: bigint) => Value;
      return (s) => {
        const a = asLong(left(s));
        return apply(a, asLong(right(s)));
      };
    }
    case 'in': {
      const [left, right] = binary();
      return (s) => {
        const l = left(s);
        return within(s, l, right(s));
      };
    }
    case 'contains': {
      const [left, right] = binary();
      return (s) => {
        const set = asSet(left(s));
        return set.has(right(s));
      };
    }
    case 'containsAll': case 'containsAny': {
      const [left, right] = binary();
      const all = op === 'containsAll';
      return (s) => {
        const set = asSet(left(s));
        const other = asSet(right(s));
        return all ? other.items.every((item) => set.has(item)) : other.items.some((item) => set.has(item));
      };
    }
    case 'isEmpty': {
      const inner = compile((arg as { arg: Node }).arg);
      return (s) => asSet(inner(s)).items.length === 0;
    }
    case '.': {
      const target = compile((arg as { left: Node }).left);
      const attr = (arg as { attr?: unknown }).attr;
      if (typeof attr !== 'string') throw new Unsupported('an attribute of another shape');
      return (s) => attribute(s, target(s), attr);
    }
    case 'has': {
      const target = compile((arg as { left: Node }).left);
      const attr = (arg as { attr?: unknown }).attr;
      if (typeof attr !== 'string') throw new Unsupported('an attribute of another shape');
      return (s) => hasAttribute(s, target(s), attr);
    }
    case 'like': {
      const target = compile((arg as { left: Node }).left);
      const pattern = likePattern((arg as { pattern?: unknown }).pattern);
      return (s) => pattern.test(asString(target(s)));
    }
    case 'is': {
      const target = compile((arg as { left: Node }).left);
      const type = (arg as { entity_type?: unknown }).entity_type;
      if (typeof type !== 'string') throw new Unsupported('an is of another shape');
      const inside = (arg as { in?: Node }).in;
      const container = inside === undefined ? null : compile(inside);
      return (s) => {
        const entity = asEntity(target(s));
        if (entity.type !== type) return false;
        return container === null ? true : within(s, entity, container(s));
      };
    }
    case 'hasTag': case 'getTag': {
      const [left, right] = binary();
      const get = op === 'getTag';
      return (s) => {
        const entity = asEntity(left(s));
        const tag = asString(right(s));
        const stored = s.entity(entity.key);
        if (!get) return stored?.tags.has(tag) ?? false;
        if (!stored) throw new EvaluationError(`entity \`${entity.type}::"${entity.id}"\` does not exist`);
        const value = stored.tags.get(tag);
        if (value === undefined) throw new EvaluationError(`\`${entity.type}::"${entity.id}"\` does not have the tag \`${tag}\``);
        return value;
      };
    }
    case 'if-then-else': {
      const branches = arg as { if: Node; then: Node; else: Node };
      const [test, then, otherwise] = [compile(branches.if), compile(branches.then), compile(branches.else)];
      return (s) => (asBool(test(s)) ? then(s) : otherwise(s));
    }
    case 'Set': {
      if (!Array.isArray(arg)) throw new Unsupported('a set of another shape');
      const items = (arg as unknown[]).map(compile);
      return (s) => new SetValue(items.map((item) => item(s)));
    }
    case 'Record': {
      if (typeof arg !== 'object' || arg === null || Array.isArray(arg)) throw new Unsupported('a record of another shape');
      const fields = Object.entries(arg).map(([key, value]) => [key, compile(value)] as const);
      return (s) => new RecordValue(new Map(fields.map(([key, value]) => [key, value(s)])));
    }
    default:
      throw new Unsupported(`the expression ${op}`);
  }
}

export { entityFromJson };
