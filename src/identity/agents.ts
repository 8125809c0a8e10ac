// Agents: non-human identities with an owner, a purpose and keys of their own.
// Adding an agent hands out a one-time enrollment token (short-lived, stored only
// as a hash); the agent spends it to register the public half of a key it made.
import { MandateError, badRequest, notFound } from '../errors.ts';
import { newId, newSecret, sha256 } from '../lib/ids.ts';
import { Signal } from '../lib/signal.ts';
import { ENVIRONMENTS, type Agent, type AgentStatus, type Environment, type Store } from '../store/types.ts';
import { importPublicJwk, jwkThumbprint, publicPart, type JWK } from './jwk.ts';
import { agentSpiffeId, assertAgentName } from './spiffe.ts';

export const ENROLLMENT_TOKEN_PREFIX = 'mandate_enroll';

export interface AgentsOptions {
  trustDomain: string;
  enrollmentTokenTtl: number;
}

export class Agents {
  readonly #store: Store;
  readonly #options: AgentsOptions;
  /** Emitted with the agent after it was suspended, retired or reactivated, once stored. */
  readonly statusChanged = new Signal<Agent>('an agent\'s status changed');

  constructor(store: Store, options: AgentsOptions) {
    this.#store = store;
    this.#options = options;
  }

  async add(input: { name: string; owner: string; sponsor?: string | undefined; purpose: string; environment?: Environment | undefined }, now: number): Promise<{ agent: Agent; enrollmentToken: string; enrollmentExpiresAt: number }> {
    assertAgentName(input.name);
    const environment = input.environment ?? 'dev';
    if (!ENVIRONMENTS.includes(environment)) throw badRequest('invalid_environment', `environment must be one of ${ENVIRONMENTS.join(', ')}`);
    if (input.purpose.trim().length === 0) throw badRequest('invalid_purpose', 'an agent needs a purpose');
    const owner = await this.#store.getPerson(input.owner);
    if (!owner) throw badRequest('owner_not_found', `no person with id ${input.owner}`);
    if (owner.status !== 'active') throw badRequest('owner_inactive', `the owner ${owner.id} is ${owner.status}`);
    const sponsor = input.sponsor === undefined ? null : await this.#store.getPerson(input.sponsor);
    if (input.sponsor !== undefined && !sponsor) throw badRequest('sponsor_not_found', `no person with id ${input.sponsor}`);
    if (sponsor && sponsor.status !== 'active') throw badRequest('sponsor_inactive', `the sponsor ${sponsor.id} is ${sponsor.status}`);
    const agent: Agent = {
      id: newId('agt'),
      name: input.name,
      spiffeId: agentSpiffeId(this.#options.trustDomain, input.name),
      owner: owner.id,
      sponsor: sponsor?.id ?? null,
      purpose: input.purpose,
      environment,
      status: 'active',
      reviewDue: null,
      keys: [],
      createdAt: now,
      enrolledAt: null,
    };
    const enrollmentToken = newSecret(ENROLLMENT_TOKEN_PREFIX);
    const enrollmentExpiresAt = now + this.#options.enrollmentTokenTtl;
    await this.#store.createAgent(agent, { tokenHash: sha256(enrollmentToken), agentId: agent.id, expiresAt: enrollmentExpiresAt });
    return { agent, enrollmentToken, enrollmentExpiresAt };
  }

  /** Spends an enrollment token to register the agent's public key (ES256). */
  async enroll(enrollmentToken: string, jwk: unknown, now: number): Promise<Agent> {
    const key = importPublicJwk(jwk);
    if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
      throw badRequest('jwk_unsupported', 'agent keys must be P-256 (ES256) keys');
    }
    const publicJwk = publicPart(jwk as JWK);
    const registered: JWK = { kty: 'EC', crv: 'P-256', x: publicJwk.x, y: publicJwk.y, kid: jwkThumbprint(publicJwk), alg: 'ES256', use: 'sig' };
    const result = await this.#store.enrollAgent(sha256(enrollmentToken), registered, now);
    if (result.ok) return result.agent;
    const messages = {
      unknown: 'the enrollment token is not valid',
      used: 'the enrollment token has already been used',
      expired: 'the enrollment token has expired',
      agent_not_active: 'the agent is no longer active',
    } as const;
    throw new MandateError(`enrollment_${result.reason}`, messages[result.reason], { status: result.reason === 'agent_not_active' ? 409 : 401 });
  }

  async get(id: string): Promise<Agent> {
    const agent = await this.#store.getAgent(id);
    if (!agent) throw notFound('agent_not_found', `no agent with id ${id}`);
    return agent;
  }

  list(filter?: { owner?: string }): Promise<Agent[]> {
    return this.#store.listAgents(filter);
  }

  /** Suspends (reversible) or retires (final) an agent; a retired agent stays retired. Its mandates are Mandates' to end (agentRetired). */
  async setStatus(id: string, status: AgentStatus): Promise<Agent> {
    const before = await this.get(id);
    if (before.status === 'retired' && status !== 'retired') throw new MandateError('agent_retired', `agent ${id} is retired`, { status: 409 });
    const agent = await this.#store.setAgentStatus(id, status);
    if (!agent) throw notFound('agent_not_found', `no agent with id ${id}`);
    await this.statusChanged.emit(agent);
    return agent;
  }
}
