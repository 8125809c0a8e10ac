// Authentication at a protected resource (the gateway): `Authorization: DPoP <task
// token>` plus a `DPoP` proof whose key matches the token's `cnf.jkt` (RFC 9449 §7).
// Verified tokens are cached until they expire (TokenService); the proof is new on
// every request and always verified.
import { MandateError } from '../errors.ts';
import { verifyDpopProof } from './dpop.ts';
import type { ReplayCache } from './replay-cache.ts';
import type { TokenService } from './tokens.ts';

export interface PresentedRequest {
  authorization: string | undefined;
  dpop: string | undefined;
  method: string;
  /** The request URL as the client addressed it (public origin + path). */
  url: string;
}

export interface ResourceCheck {
  /** This resource's identifier: the only accepted `aud`. */
  resource: string;
  now: number;
  dpopMaxAge: number;
  notBefore: number;
  replayCache: ReplayCache;
}

const invalidToken = (code: string, message: string): MandateError => new MandateError(code, message, { status: 401, oauthError: 'invalid_token' });

/** Returns the verified task-token claims, or throws a 401 error naming the failure. */
export function authenticateTaskRequest(tokens: TokenService, request: PresentedRequest, check: ResourceCheck): Record<string, unknown> {
  const header = request.authorization;
  if (!header) throw invalidToken('token_missing', 'send Authorization: DPoP <task token> with a DPoP proof');
  const match = /^DPoP ([A-Za-z0-9\-._~+/]+=*)$/.exec(header);
  if (!match) throw invalidToken('authorization_scheme', 'the Authorization header must use the DPoP scheme: "DPoP <task token>"');
  const token = match[1] as string;
  let claims: Record<string, unknown>;
  try {
    claims = tokens.verify('task', token, check.resource, check.now);
  } catch (error) {
    throw invalidToken((error as MandateError).code ?? 'token_invalid', (error as Error).message);
  }
  const jkt = (claims.cnf as { jkt?: unknown } | undefined)?.jkt;
  if (typeof jkt !== 'string') throw invalidToken('token_not_dpop_bound', 'the task token carries no cnf.jkt');
  let proof;
  try {
    proof = verifyDpopProof(request.dpop, {
      method: request.method, url: request.url, accessToken: token, now: check.now, maxAge: check.dpopMaxAge, notBefore: check.notBefore, replayCache: check.replayCache,
    });
  } catch (error) {
    // At a resource every authentication failure is a 401 (RFC 9449 §7.1).
    throw (error as MandateError).asOAuth('invalid_dpop_proof', 401);
  }
  if (proof.jkt !== jkt) throw new MandateError('dpop_key_mismatch', 'the DPoP proof key is not the key the token is bound to (cnf.jkt)', { status: 401, oauthError: 'invalid_dpop_proof' });
  return claims;
}
