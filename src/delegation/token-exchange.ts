// OAuth 2.0 Token Exchange (RFC 8693) at /oauth/token: an authenticated agent trades
// the mandate token a person gave it for a DPoP-bound task token (RFC 9449) for one
// gateway resource (RFC 8707), narrowed to the actions it asks for.
import { randomUUID } from 'node:crypto';
import { SERVER_NAME } from '../catalog/servers.ts';
import { MandateError, oauthError } from '../errors.ts';
import { effectiveState } from './mandates.ts';
import { notCovered, parseScopeItem, scopeFromString, scopeToString } from './scope.ts';
import type { Agent, Store } from '../store/types.ts';
import { authenticateClient, verifyAgentAssertion, type AssertionCheck } from '../identity/client-auth.ts';
import { verifyDpopProof } from '../identity/dpop.ts';
import type { ReplayCache } from '../identity/replay-cache.ts';
import type { TaskClaims, TokenService } from '../identity/tokens.ts';
import type { PolicyEngine } from '../policy/engine.ts';
import { actClaim, DEFAULT_MAX_DELEGATION_DEPTH, SubDelegation, type DelegationResponse } from './sub-delegation.ts';

export const GRANT_TYPE_TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const TOKEN_TYPE_JWT = 'urn:ietf:params:oauth:token-type:jwt';
export const TOKEN_TYPE_ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';

export interface TokenResponse {
  access_token: string;
  issued_token_type: string;
  token_type: 'DPoP';
  expires_in: number;
  scope: string;
}

export interface TokenEndpointOptions {
  issuer: string;
  tokenEndpoint: string;
  /** The URL prefix of gateway resources: `<public url>/mcp/`. */
  resourcePrefix: string;
  /** The URL prefix of HTTP API resources behind the proxy: `<public url>/proxy/`. */
  proxyResourcePrefix?: string;
  taskTokenTtl: number;
  clientAssertionMaxAge: number;
  dpopMaxAge: number;
  clockTolerance: number;
  /** Proofs and assertions made before this moment (process start) are refused. */
  notBefore: number;
  /** How deep a mandate may be sub-delegated (default 3). */
  maxDelegationDepth?: number;
}

const PARAMS = new Set([
  'grant_type', 'subject_token', 'subject_token_type', 'actor_token', 'actor_token_type', 'resource', 'audience', 'scope',
  'requested_token_type', 'client_id', 'client_assertion', 'client_assertion_type',
  // Of a sub-delegation: what the child mandate is for, and its bounds (within the parent's).
  'purpose', 'requested_ttl', 'max_calls',
]);

const invalidRequest = (code: string, message: string): never => {
  throw oauthError('invalid_request', code, message);
};

/** What a token request was found to be about, as far as it got. */
export interface TokenRequestSeen {
  agent?: string;
  /** Of a sub-delegation: the agent receiving the child mandate. */
  delegate?: string;
  server?: string;
  mandate?: string;
  person?: string;
  purpose?: string;
}

export class TokenEndpoint {
  readonly #store: Store;
  readonly #tokens: TokenService;
  readonly #replay: ReplayCache;
  readonly #options: TokenEndpointOptions;
  readonly #delegation: SubDelegation;

  constructor(store: Store, tokens: TokenService, replay: ReplayCache, options: TokenEndpointOptions, policy: () => PolicyEngine) {
    this.#store = store;
    this.#tokens = tokens;
    this.#replay = replay;
    this.#options = options;
    this.#delegation = new SubDelegation(store, tokens, replay, policy, {
      issuer: options.issuer, tokenEndpoint: options.tokenEndpoint, resourcePrefixes: [options.resourcePrefix, ...(options.proxyResourcePrefix ? [options.proxyResourcePrefix] : [])], dpopMaxAge: options.dpopMaxAge,
      notBefore: options.notBefore, maxDepth: options.maxDelegationDepth ?? DEFAULT_MAX_DELEGATION_DEPTH,
    });
  }

  assertionCheck(now: number): AssertionCheck {
    return {
      now,
      audiences: [this.#options.tokenEndpoint, this.#options.issuer],
      maxAge: this.#options.clientAssertionMaxAge,
      clockTolerance: this.#options.clockTolerance,
      notBefore: this.#options.notBefore,
      replayCache: this.#replay,
    };
  }

  /**
   * Handles one token request; throws a MandateError carrying the OAuth error code.
   * `seen` is filled in as the request is understood — the agent once authenticated,
   * the server, then the mandate — so a refusal can be recorded with what was known.
   */
  async handle(form: URLSearchParams, dpopProof: string | undefined, now: number, seen: TokenRequestSeen = {}): Promise<TokenResponse | DelegationResponse> {
    for (const name of new Set(form.keys())) {
      if (form.getAll(name).length > 1) invalidRequest('duplicate_parameter', `parameter ${name} is given more than once`);
    }
    const grantType = form.get('grant_type');
    if (!grantType) invalidRequest('parameter_missing', 'grant_type is required');
    if (grantType !== GRANT_TYPE_TOKEN_EXCHANGE) {
      throw oauthError('unsupported_grant_type', 'grant_type_unsupported', `grant_type ${grantType} is not supported; use ${GRANT_TYPE_TOKEN_EXCHANGE}`);
    }
    for (const name of form.keys()) {
      if (!PARAMS.has(name)) invalidRequest('parameter_unknown', `parameter ${name} is not part of a token exchange request`);
    }
    const agent = await authenticateClient(this.#store, form, this.assertionCheck(now));
    seen.agent = agent.spiffeId;
    return this.#exchange(agent, form, dpopProof, now, seen);
  }

  async #exchange(agent: Agent, form: URLSearchParams, dpopProof: string | undefined, now: number, seen: TokenRequestSeen): Promise<TokenResponse | DelegationResponse> {
    const subjectToken = form.get('subject_token');
    const subjectTokenType = form.get('subject_token_type');
    if (!subjectToken) invalidRequest('parameter_missing', 'subject_token is required (the mandate token)');
    if (!subjectTokenType) invalidRequest('parameter_missing', 'subject_token_type is required');
    if (subjectTokenType === TOKEN_TYPE_ACCESS_TOKEN) {
      // An agent's own task token: a sub-delegation to the agent the actor token names.
      const actorTokenType = form.get('actor_token_type');
      if (actorTokenType !== null && actorTokenType !== TOKEN_TYPE_JWT) invalidRequest('actor_token_type_unsupported', `actor_token_type must be ${TOKEN_TYPE_JWT}`);
      const requested = form.get('requested_token_type');
      if (requested !== null && requested !== TOKEN_TYPE_JWT) invalidRequest('requested_token_type_unsupported', `a sub-delegation issues a mandate token (${TOKEN_TYPE_JWT})`);
      return this.#delegation.delegate(agent, form, dpopProof, this.assertionCheck(now), now, seen);
    }
    for (const name of ['purpose', 'requested_ttl', 'max_calls']) {
      if (form.has(name)) invalidRequest('parameter_unknown', `parameter ${name} belongs to a sub-delegation (subject_token_type ${TOKEN_TYPE_ACCESS_TOKEN})`);
    }
    if (subjectTokenType !== TOKEN_TYPE_JWT) invalidRequest('subject_token_type_unsupported', `subject_token_type must be ${TOKEN_TYPE_JWT} (a mandate token) or ${TOKEN_TYPE_ACCESS_TOKEN} (a task token, to sub-delegate)`);
    const actorToken = form.get('actor_token');
    const actorTokenType = form.get('actor_token_type');
    if ((actorToken === null) !== (actorTokenType === null)) invalidRequest('parameter_missing', 'actor_token and actor_token_type go together');
    const requested = form.get('requested_token_type');
    if (requested !== null && requested !== TOKEN_TYPE_ACCESS_TOKEN) invalidRequest('requested_token_type_unsupported', `requested_token_type must be ${TOKEN_TYPE_ACCESS_TOKEN}`);

    const resource = form.get('resource');
    const audience = form.get('audience');
    if (!resource) throw oauthError('invalid_target', 'resource_missing', `resource is required: the gateway URL, ${this.#options.resourcePrefix}<server>`);
    if (audience !== null && audience !== resource) throw oauthError('invalid_target', 'audience_mismatch', 'audience, when given, must equal resource');
    const server = await this.#resourceServer(resource);
    seen.server = server;

    let proof;
    try {
      proof = verifyDpopProof(dpopProof, {
        method: 'POST', url: this.#options.tokenEndpoint, now, maxAge: this.#options.dpopMaxAge, notBefore: this.#options.notBefore, replayCache: this.#replay,
      });
    } catch (error) {
      throw (error as MandateError).asOAuth('invalid_dpop_proof');
    }

    if (actorToken !== null) {
      if (actorTokenType !== TOKEN_TYPE_JWT) invalidRequest('actor_token_type_unsupported', `actor_token_type must be ${TOKEN_TYPE_JWT}`);
      let actor: Agent;
      try {
        actor = await verifyAgentAssertion(this.#store, actorToken, this.assertionCheck(now));
      } catch (error) {
        throw oauthError('invalid_grant', (error as MandateError).code, `the actor token is not valid: ${(error as Error).message}`);
      }
      if (actor.id !== agent.id) throw oauthError('invalid_grant', 'actor_mismatch', 'the actor token names another agent than the authenticated client');
    }

    let claims: Record<string, unknown>;
    try {
      claims = this.#tokens.verify('mandate', subjectToken as string, this.#options.issuer, now);
    } catch (error) {
      throw oauthError('invalid_grant', (error as MandateError).code ?? 'token_invalid', `the subject token is not a valid mandate token: ${(error as Error).message}`);
    }
    const mayAct = claims.may_act as { sub?: unknown } | undefined;
    if (mayAct?.sub !== agent.spiffeId) throw oauthError('invalid_grant', 'may_act_mismatch', `the mandate token was not issued to ${agent.spiffeId}`);
    const stored = typeof claims.mandate_id === 'string' ? await this.#store.getMandate(claims.mandate_id) : null;
    if (!stored || stored.agentId !== agent.id || stored.grantor !== claims.sub) throw oauthError('invalid_grant', 'mandate_not_found', 'the mandate token names no mandate of this agent');
    const mandate = effectiveState(stored, now);
    Object.assign(seen, { mandate: mandate.id, person: mandate.grantor, purpose: mandate.purpose });
    if (mandate.state !== 'active') throw oauthError('invalid_grant', 'mandate_not_active', `mandate ${mandate.id} is ${mandate.state}`);
    if (mandate.notBefore > now + this.#options.clockTolerance) throw oauthError('invalid_grant', 'mandate_not_yet_valid', `mandate ${mandate.id} is not valid yet`);
    if (mandate.maxCalls !== null && mandate.callsUsed >= mandate.maxCalls) throw oauthError('invalid_grant', 'mandate_exhausted', `mandate ${mandate.id} has used all ${mandate.maxCalls} calls`);
    const grantor = await this.#store.getPerson(mandate.grantor);
    if (!grantor || grantor.status !== 'active') throw oauthError('invalid_grant', 'grantor_inactive', `${mandate.grantor}, who granted the mandate, is no longer active`);

    const granted = mandate.scope.filter((a) => parseScopeItem(a).server === server);
    if (granted.length === 0) throw oauthError('invalid_target', 'resource_not_in_mandate', `mandate ${mandate.id} grants nothing on server ${server}`);
    const scope = this.#narrowScope(form.get('scope'), granted, server);

    const exp = Math.min(now + this.#options.taskTokenTtl, mandate.expiresAt);
    const taskClaims: TaskClaims = {
      iss: this.#options.issuer, sub: mandate.grantor, aud: resource as string, iat: now, exp, jti: randomUUID(),
      client_id: agent.spiffeId, scope: scopeToString(scope), act: actClaim([agent.spiffeId, ...mandate.chain]), mandate_id: mandate.id, cnf: { jkt: proof.jkt },
    };
    return {
      access_token: this.#tokens.sign('task', taskClaims),
      issued_token_type: TOKEN_TYPE_ACCESS_TOKEN,
      token_type: 'DPoP',
      expires_in: exp - now,
      scope: taskClaims.scope,
    };
  }

  async #resourceServer(resource: string): Promise<string> {
    const prefix = this.#options.resourcePrefix;
    const proxy = this.#options.proxyResourcePrefix;
    // An MCP server is the resource <prefix><server>; an HTTP API, <proxy prefix><server>.
    const viaProxy = proxy !== undefined && resource.startsWith(proxy);
    const name = viaProxy ? resource.slice(proxy.length) : resource.startsWith(prefix) ? resource.slice(prefix.length) : '';
    if (!SERVER_NAME.test(name)) throw oauthError('invalid_target', 'resource_unknown', `resource must be a gateway URL, ${prefix}<server>${proxy ? ` or ${proxy}<server>` : ''}`);
    const server = await this.#store.getServer(name);
    if (!server) throw oauthError('invalid_target', 'resource_unknown', `no server named ${name} behind this gateway`);
    if ((server.upstream.transport === 'http-api') !== viaProxy) {
      throw oauthError('invalid_target', 'resource_unknown', viaProxy ? `${name} is an MCP server: its resource is ${prefix}${name}` : `${name} is an HTTP API: its resource is ${proxy ?? '/proxy/'}${name}`);
    }
    return name;
  }

  #narrowScope(requested: string | null, granted: string[], server: string): string[] {
    if (requested === null) return granted;
    let actions: string[];
    try {
      actions = scopeFromString(requested);
      for (const action of actions) {
        if (parseScopeItem(action).server !== server) throw new MandateError('scope_other_resource', `${action} is not an action on ${server}, the requested resource`);
      }
    } catch (error) {
      throw oauthError('invalid_scope', (error as MandateError).code ?? 'invalid_scope', (error as Error).message);
    }
    if (actions.length === 0) throw oauthError('invalid_scope', 'scope_empty', 'scope, when given, must name at least one action');
    const beyond = notCovered(granted, actions);
    if (beyond.length > 0) throw oauthError('invalid_scope', 'scope_exceeds_mandate', `the mandate does not allow ${beyond.join(', ')}`);
    return [...new Set(actions)].sort();
  }
}
