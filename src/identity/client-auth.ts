// Agent authentication at the token endpoint with `private_key_jwt` (RFC 7523 §2.2,
// OIDC Core §9): a JWT the agent signs with its enrolled key, `iss` = `sub` = its
// client id (the SPIFFE ID), `aud` = the token endpoint, `iat`, a short `exp` and a
// `jti` that is never accepted twice.
import type { MandateError} from '../errors.ts';
import { oauthError } from '../errors.ts';
import type { Agent, Store } from '../store/types.ts';
import { importPublicJwk } from './jwk.ts';
import { decodeJws, verifySignature } from './jws.ts';
import type { ReplayCache } from './replay-cache.ts';

export const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const ACCEPTED_TYP = [undefined, 'JWT', 'client-authentication+jwt'];

export interface AssertionCheck {
  now: number;
  /** Accepted audiences: the token endpoint URL and the issuer identifier. */
  audiences: readonly string[];
  maxAge: number;
  clockTolerance: number;
  notBefore: number;
  replayCache: ReplayCache;
}

const invalidClient = (code: string, message: string): never => {
  throw oauthError('invalid_client', code, message);
};

/** Verifies a JWT the agent signed with its own key (a client assertion or an actor token). */
export async function verifyAgentAssertion(store: Store, assertion: string, check: AssertionCheck, expectedClientId?: string): Promise<Agent> {
  let decoded;
  try {
    decoded = decodeJws(assertion, ['ES256']);
  } catch (error) {
    return invalidClient((error as MandateError).code ?? 'token_malformed', `the client assertion is not valid: ${(error as Error).message}`);
  }
  const { header, payload } = decoded;
  if (!ACCEPTED_TYP.includes(header.typ as string | undefined)) return invalidClient('token_type_mismatch', `a client assertion may not have typ ${String(header.typ)}`);
  if (typeof payload.iss !== 'string' || payload.iss !== payload.sub) return invalidClient('assertion_subject_mismatch', 'the client assertion needs iss = sub = the client id');
  if (expectedClientId !== undefined && payload.sub !== expectedClientId) return invalidClient('client_id_mismatch', 'the client assertion is for another client than client_id names');
  const agent = await store.getAgentBySpiffeId(payload.iss);
  if (!agent) return invalidClient('client_unknown', `no agent with client id ${payload.iss}`);
  if (agent.status !== 'active') return invalidClient('agent_inactive', `agent ${agent.name} is ${agent.status}`);
  const candidates = header.kid === undefined ? agent.keys : agent.keys.filter((k) => k.kid === header.kid);
  if (candidates.length === 0) return invalidClient('token_kid_unknown', agent.keys.length === 0 ? `agent ${agent.name} has not enrolled a key` : 'the client assertion names a key the agent has not enrolled');
  const verified = candidates.some((jwk) => {
    try {
      verifySignature(decoded, importPublicJwk(jwk));
      return true;
    } catch {
      return false;
    }
  });
  if (!verified) return invalidClient('token_signature_invalid', 'the client assertion signature does not verify with the agent\'s key');

  const { now, clockTolerance } = check;
  const aud = Array.isArray(payload.aud) && payload.aud.length === 1 ? payload.aud[0] : payload.aud;
  if (typeof aud !== 'string' || !check.audiences.includes(aud)) return invalidClient('token_audience_mismatch', `the client assertion audience must be ${check.audiences[0]}`);
  if (typeof payload.exp !== 'number') return invalidClient('token_claim_missing', 'the client assertion has no "exp"');
  if (payload.exp <= now - clockTolerance) return invalidClient('token_expired', 'the client assertion has expired');
  if (payload.exp > now + check.maxAge + clockTolerance) return invalidClient('token_lifetime_too_long', `the client assertion must expire within ${check.maxAge} seconds`);
  if (payload.nbf !== undefined && (typeof payload.nbf !== 'number' || payload.nbf > now + clockTolerance)) return invalidClient('token_not_yet_valid', 'the client assertion is not valid yet');
  // `iat` is required: with it, assertions made before this process started (whose
  // jti the in-memory replay cache cannot know) are refused.
  if (typeof payload.iat !== 'number') return invalidClient('token_claim_missing', 'the client assertion has no "iat"');
  if (payload.iat > now + clockTolerance) return invalidClient('token_not_yet_valid', 'the client assertion was issued in the future');
  if (payload.iat < check.notBefore) return invalidClient('token_stale', 'the client assertion was made before this server started; make a new one');
  if (typeof payload.jti !== 'string' || payload.jti.length < 8 || payload.jti.length > 256) return invalidClient('token_claim_missing', 'the client assertion needs a unique "jti" (8 to 256 characters)');
  if (!check.replayCache.consume(`assertion:${agent.spiffeId}:${payload.jti}`, payload.exp + clockTolerance, now)) {
    return invalidClient('assertion_replayed', 'this client assertion has been used before');
  }
  return agent;
}

/** Authenticates the client of a token-endpoint request from its form parameters. */
export async function authenticateClient(store: Store, form: URLSearchParams, check: AssertionCheck): Promise<Agent> {
  const type = form.get('client_assertion_type');
  const assertion = form.get('client_assertion');
  if (type === null && assertion === null) return invalidClient('client_authentication_missing', 'the client must authenticate with private_key_jwt (client_assertion)');
  if (type !== CLIENT_ASSERTION_TYPE) return invalidClient('client_assertion_type_unsupported', `client_assertion_type must be ${CLIENT_ASSERTION_TYPE}`);
  if (!assertion) return invalidClient('client_assertion_missing', 'client_assertion is missing');
  return verifyAgentAssertion(store, assertion, check, form.get('client_id') ?? undefined);
}
