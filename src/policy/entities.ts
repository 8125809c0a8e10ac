// The entities and context pieces of the Cedar requests Mandate asks, in the shapes
// policies/schema.cedarschema declares. The decision point evaluates without the
// schema, so what the schema knows (an action's groups, an entity's attributes) must
// be in each request itself; the request builders take it from here.
import type { Agent, Person, Sensitivity, Server } from '../store/types.ts';
import type { AuthorizationRequest, EntityRecord } from './engine.ts';

/** An entity reference as a Cedar JSON value. */
export const entityValue = (type: string, id: string): { __entity: { type: string; id: string } } => ({ __entity: { type, id } });

/** The action groups each action is in (`action in Action::"gateway"`). */
export const ACTION_GROUPS: Readonly<Record<string, readonly string[]>> = {
  'tools/call': ['gateway'],
  'prompts/get': ['gateway'],
  'resources/read': ['gateway'],
  'http/request': ['gateway'],
  'mandate/grant': ['delegation'],
  'mandate/delegate': ['delegation'],
  'credential/use': [],
};

const actionEntities = new Map<string, EntityRecord>();

/** The action's entity with its groups as parents (one shared, frozen record per action). */
export function actionEntity(action: string): EntityRecord {
  let entity = actionEntities.get(action);
  if (!entity) {
    const groups = ACTION_GROUPS[action];
    if (!groups) throw new Error(`${action} is not an action of the schema`);
    entity = Object.freeze({ uid: { type: 'Action', id: action }, attrs: {}, parents: groups.map((id) => ({ type: 'Action', id })) });
    actionEntities.set(action, entity);
  }
  return entity;
}

/** Sensitivities in order, so policies can compare them (`sensitivity_level`). */
export const SENSITIVITY_LEVEL: Readonly<Record<Sensitivity, number>> = { public: 0, internal: 1, confidential: 2, secret: 3 };

export function personEntity(person: Pick<Person, 'id' | 'status'> & { email?: string | null }): EntityRecord {
  return {
    uid: { type: 'Person', id: person.id },
    attrs: { status: person.status, ...(person.email ? { email: person.email } : {}) },
    parents: [],
  };
}

export function agentEntity(agent: Agent): EntityRecord {
  return {
    uid: { type: 'Agent', id: agent.id },
    attrs: {
      owner: entityValue('Person', agent.owner), environment: agent.environment, status: agent.status,
      name: agent.name, purpose: agent.purpose, spiffe_id: agent.spiffeId,
      ...(agent.reviewDue !== null ? { review_due: agent.reviewDue } : {}),
    },
    parents: [],
  };
}

export interface TimeContext {
  now: number;
  /** ISO weekday, UTC: 1 = Monday … 7 = Sunday. */
  weekday: number;
  hour: number;
  minute: number;
  [key: string]: number;
}

/** `context.time` for a moment (whole seconds): the moment itself and its UTC weekday, hour and minute. */
export function timeContext(now: number): TimeContext {
  const date = new Date(now * 1000);
  return { now, weekday: date.getUTCDay() === 0 ? 7 : date.getUTCDay(), hour: date.getUTCHours(), minute: date.getUTCMinutes() };
}

/** Who asks under a mandate, as the gateway authenticated them (what every request it decides is about). */
export interface MandateCaller {
  mandateId: string;
  purpose: string;
  person: string;
  grantedAt: number;
  expiresAt: number;
  scope: string[];
  /** The actor chain, current actor first. */
  agents: string[];
  agent: Agent;
}

/**
 * The entities of every request made to a server under a mandate: the acting agent,
 * the grantor (active: the request was authenticated with the mandate standing) and
 * the server with its environment.
 */
export function callerEntities(caller: MandateCaller, server: Pick<Server, 'name' | 'environment'>): EntityRecord[] {
  return [
    agentEntity(caller.agent),
    personEntity({ id: caller.person, status: 'active' }),
    { uid: { type: 'Server', id: server.name }, attrs: { environment: server.environment ?? '' }, parents: [] },
  ];
}

/** The context every request made under a mandate has: the mandate, its purpose, grantor, grant window and scope. */
export function mandateContext(caller: MandateCaller): AuthorizationRequest['context'] {
  return {
    mandate: caller.mandateId,
    purpose: caller.purpose,
    person: entityValue('Person', caller.person),
    granted_at: caller.grantedAt,
    expires_at: caller.expiresAt,
    scope: caller.scope,
  };
}

/** The actor chain in a request's context: who acts, who delegated to them, how deep. */
export function actorContext(caller: Pick<MandateCaller, 'agents'>): { actors: string[]; delegator: string; depth: number } {
  return { actors: caller.agents, delegator: caller.agents[1] ?? '', depth: Math.max(0, caller.agents.length - 1) };
}
