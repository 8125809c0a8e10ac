// An AuthZEN access evaluation request as the Cedar request Mandate's decision point
// asks: subject → principal entity, action → `Action::"<name>"`, resource → resource
// entity, context → context; properties become attributes. JSON values map onto
// Cedar's own JSON value form (strings, booleans, whole numbers as Long, arrays as
// sets, objects as records, `{"__entity": …}` and `{"__extn": …}` escapes), the
// reserved `__parents` property places an entity in the hierarchy, and the action
// comes with the groups the schema puts it in. What Cedar cannot represent is
// refused with the path of the value, never guessed at.
import type * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { MandateError } from '../errors.ts';
import type { AuthorizationRequest, EntityRecord, EntityRef } from '../policy/engine.ts';
import type { ActionGroups } from '../policy/action-groups.ts';

export interface AuthzenEntity {
  type: string;
  id: string;
  properties?: Record<string, unknown>;
}

export interface AuthzenAction {
  name: string;
  properties?: Record<string, unknown>;
}

/** One access evaluation: the AuthZEN 4-tuple (after any batch defaults are applied). */
export interface AccessRequest {
  subject: AuthzenEntity;
  action: AuthzenAction;
  resource: AuthzenEntity;
  context?: Record<string, unknown>;
}

/** How deep properties and context may nest (objects and arrays), against nested-JSON attacks. */
export const MAX_VALUE_DEPTH = 32;

/** The property that names an entity's parents instead of being an attribute. */
export const PARENTS_PROPERTY = '__parents';

const EXTENSION_FUNCTIONS = new Set(['ip', 'decimal', 'datetime', 'duration']);
const RESERVED_IDENTIFIERS = new Set(['true', 'false', 'if', 'then', 'else', 'in', 'is', 'like', 'has', '__cedar']);
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A request Cedar cannot be asked: its evaluation is denied with this message, nothing else fails. */
export const unmappable = (path: string, message: string): MandateError => new MandateError('invalid_evaluation', `${path}: ${message}`, { status: 400 });

/** Cedar entity type names: identifiers joined by `::` (`Agent`, `Acme::Document`), none of them reserved. */
export function isCedarTypeName(name: string): boolean {
  return name.split('::').every((part) => IDENTIFIER.test(part) && !RESERVED_IDENTIFIERS.has(part));
}

function entityType(type: unknown, path: string): string {
  if (typeof type !== 'string') throw unmappable(path, 'an entity type must be a string');
  if (!isCedarTypeName(type)) throw unmappable(path, `"${type}" is not a Cedar entity type name (identifiers of letters, digits and _, joined by ::)`);
  return type;
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

function entityRef(value: unknown, path: string): EntityRef {
  if (!isObject(value) || Object.keys(value).some((k) => k !== 'type' && k !== 'id') || typeof value.id !== 'string') {
    throw unmappable(path, 'an entity reference is {"type": "<Type>", "id": "<id>"}, both strings, nothing else');
  }
  return { type: entityType(value.type, `${path}.type`), id: value.id };
}

function extension(value: unknown, path: string): cedar.CedarValueJson {
  if (!isObject(value) || Object.keys(value).some((k) => k !== 'fn' && k !== 'arg') || typeof value.fn !== 'string' || typeof value.arg !== 'string') {
    throw unmappable(path, 'an extension value is {"fn": "<function>", "arg": "<string>"}, nothing else');
  }
  if (!EXTENSION_FUNCTIONS.has(value.fn)) throw unmappable(`${path}.fn`, `"${value.fn}" is not one of Cedar's extension functions (${[...EXTENSION_FUNCTIONS].join(', ')})`);
  return { __extn: { fn: value.fn, arg: value.arg } };
}

/** One JSON value as a Cedar value. `null` has none: a record member that is null is left out (as if absent). */
export function cedarValue(value: unknown, path: string, depth = 0): cedar.CedarValueJson {
  if (depth > MAX_VALUE_DEPTH) throw unmappable(path, `values nest deeper than ${MAX_VALUE_DEPTH} levels`);
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      if (!Number.isSafeInteger(value)) {
        throw unmappable(path, `${value} is not a whole number within ±${Number.MAX_SAFE_INTEGER}: Cedar's numbers are integers (Long); send a decimal as {"__extn": {"fn": "decimal", "arg": "${value}"}} or as a string`);
      }
      return value;
    case 'object':
      if (value === null) throw unmappable(path, 'null has no Cedar value (leave the member out instead)');
      if (Array.isArray(value)) return value.map((element, i) => cedarValue(element, `${path}[${i}]`, depth + 1));
      return cedarObject(value as Record<string, unknown>, path, depth);
    default:
      throw unmappable(path, `a ${typeof value} has no Cedar value`);
  }
}

function cedarObject(value: Record<string, unknown>, path: string, depth: number): cedar.CedarValueJson {
  const keys = Object.keys(value);
  if (keys.length === 1 && keys[0] === '__entity') return { __entity: entityRef(value.__entity, `${path}.__entity`) };
  if (keys.length === 1 && keys[0] === '__extn') return extension(value.__extn, `${path}.__extn`);
  return cedarRecord(value, path, depth);
}

/** A record's members, each mapped; `__`-prefixed names are Cedar's escapes and Mandate's `__parents`, never members. */
function cedarRecord(value: Record<string, unknown>, path: string, depth: number): Record<string, cedar.CedarValueJson> {
  const members: Array<[string, cedar.CedarValueJson]> = [];
  for (const [key, member] of Object.entries(value)) {
    if (key.startsWith('__')) {
      throw unmappable(`${path}.${key}`, 'names starting with "__" are reserved: {"__entity": …} and {"__extn": …} each stand alone in their object, and __parents only directly under properties');
    }
    if (member === null) continue;
    members.push([key, cedarValue(member, `${path}.${key}`, depth + 1)]);
  }
  // fromEntries defines own members, so a name such as "constructor" stays a plain member.
  return Object.fromEntries(members);
}

function parentsOf(value: unknown, path: string): EntityRef[] {
  if (!Array.isArray(value)) throw unmappable(path, 'parents are an array of entity references');
  return value.map((parent: unknown, i) => {
    const where = `${path}[${i}]`;
    return isObject(parent) && Object.keys(parent).length === 1 && '__entity' in parent ? entityRef(parent.__entity, `${where}.__entity`) : entityRef(parent, where);
  });
}

/** A subject or resource as a Cedar entity: its properties as attributes, `__parents` as its parents. */
export function cedarEntity(entity: AuthzenEntity, path: string): EntityRecord {
  const uid = { type: entityType(entity.type, `${path}.type`), id: entity.id };
  const { [PARENTS_PROPERTY]: parents, ...properties } = entity.properties ?? {};
  return {
    uid,
    attrs: cedarRecord(properties, `${path}.properties`, 0),
    parents: parents === undefined || parents === null ? [] : parentsOf(parents, `${path}.properties.${PARENTS_PROPERTY}`),
  };
}

const sameUid = (a: EntityRef, b: EntityRef): boolean => a.type === b.type && a.id === b.id;

/** The action's entity and those of every group above it, so `action in Action::"<group>"` holds as the schema says. */
function actionEntities(name: string, groups: ActionGroups): EntityRecord[] {
  const entities: EntityRecord[] = [];
  const seen = new Set<string>();
  const pending = [name];
  while (pending.length > 0) {
    const id = pending.pop() as string;
    if (seen.has(id)) continue;
    seen.add(id);
    const parents = groups.get(id) ?? [];
    entities.push({ uid: { type: 'Action', id }, attrs: {}, parents: parents.map((parent) => ({ type: 'Action', id: parent })) });
    pending.push(...parents);
  }
  return entities;
}

/**
 * The Cedar request for one access evaluation, the action placed in its schema
 * groups. Throws an `invalid_evaluation` MandateError naming the first value Cedar
 * cannot be given.
 */
export function toCedarRequest(request: AccessRequest, actionGroups: ActionGroups = new Map()): AuthorizationRequest {
  const principal = cedarEntity(request.subject, 'subject');
  const resource = cedarEntity(request.resource, 'resource');
  for (const [entity, path] of [[principal, 'subject'], [resource, 'resource']] as const) {
    // Actions and their groups come from the schema; a subject or resource posing as one could rewrite them.
    if (entity.uid.type === 'Action') throw unmappable(`${path}.type`, 'Action is the type of actions, not of a subject or resource');
  }
  const actionProperties = Object.keys(request.action.properties ?? {});
  if (actionProperties.length > 0) {
    // Cedar actions carry no attributes a validated policy could read: dropping them would decide on less than was asked.
    throw unmappable(`action.properties.${actionProperties[0]}`, 'Cedar actions have no attributes; send details of the action in context');
  }
  const context = cedarRecord(request.context ?? {}, 'context', 0);
  const entities: EntityRecord[] = [principal];
  if (!sameUid(principal.uid, resource.uid)) entities.push(resource);
  else if (JSON.stringify([principal.attrs, principal.parents]) !== JSON.stringify([resource.attrs, resource.parents])) {
    // One entity cannot be told to Cedar twice; the same one described two ways is a contradiction, not a choice to make.
    const empty = (e: EntityRecord): boolean => Object.keys(e.attrs).length === 0 && e.parents.length === 0;
    if (empty(principal)) entities[0] = resource;
    else if (!empty(resource)) throw unmappable('resource', `the subject and the resource are the same entity (${principal.uid.type}::${JSON.stringify(principal.uid.id)}) with different properties`);
  }
  entities.push(...actionEntities(request.action.name, actionGroups));
  return { principal: principal.uid, action: request.action.name, resource: resource.uid, context, entities };
}
