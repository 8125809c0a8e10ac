// DPoP proof verification (RFC 9449 §4.3). A proof is new on every request and is
// always verified; `jti` values go into the replay cache for the acceptance window.
import { createHash } from 'node:crypto';
import { MandateError } from '../errors.ts';
import { importPublicJwk, jwkThumbprint, type JWK } from './jwk.ts';
import { decodeJws, verifySignature, type JwsAlgorithm } from './jws.ts';
import type { ReplayCache } from './replay-cache.ts';

export const DPOP_ALGORITHMS: readonly JwsAlgorithm[] = ['ES256', 'ES384', 'ES512', 'EdDSA', 'PS256', 'PS384', 'PS512', 'RS256', 'RS384', 'RS512'];

export interface DpopCheck {
  method: string;
  /** The URL of the request as the client addressed it. */
  url: string;
  /** When presenting an access token: the token, whose hash must be in `ath`. */
  accessToken?: string;
  now: number;
  /** Seconds a proof stays acceptable after its `iat` (and before, for clock skew). */
  maxAge: number;
  /** Proofs issued before this moment are refused (the replay cache does not know them). */
  notBefore: number;
  replayCache: ReplayCache;
}

export interface VerifiedProof {
  /** RFC 7638 thumbprint of the proof key: what `cnf.jkt` binds a token to. */
  jkt: string;
  jwk: JWK;
}

const fail = (code: string, message: string): never => {
  throw new MandateError(code, message, { oauthError: 'invalid_dpop_proof' });
};

const normalized = new Map<string, string | null>();

/** Scheme and host lower-cased, default port dropped, no query or fragment (RFC 9449 §4.3 item 9). */
export function normalizeHtu(value: string): string | null {
  const known = normalized.get(value);
  if (known !== undefined) return known;
  const result = parseHtu(value);
  if (normalized.size >= 1000) normalized.clear();
  normalized.set(value, result);
  return result;
}

function parseHtu(value: string): string | null {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return null;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return null;
  return `${url.protocol}//${url.host}${url.pathname}`;
}

const tokenHashes = new Map<string, string>();

/** `ath`: the access token's SHA-256 (remembered: an agent presents one token many times). */
export function accessTokenHash(token: string): string {
  let hash = tokenHashes.get(token);
  if (hash === undefined) {
    hash = createHash('sha256').update(token).digest('base64url');
    if (tokenHashes.size >= 10_000) tokenHashes.clear();
    tokenHashes.set(token, hash);
  }
  return hash;
}

export function verifyDpopProof(proof: string | undefined, check: DpopCheck): VerifiedProof {
  if (proof === undefined || proof === '') return fail('dpop_missing', 'a DPoP proof is required (DPoP header)');
  let decoded;
  try {
    decoded = decodeJws(proof, DPOP_ALGORITHMS);
  } catch (error) {
    return fail('dpop_malformed', `the DPoP proof is not a valid JWT: ${(error as Error).message}`);
  }
  const { header, payload } = decoded;
  if (header.typ !== 'dpop+jwt') return fail('dpop_typ', 'the DPoP proof must have typ "dpop+jwt"');
  let jwk: JWK;
  try {
    jwk = header.jwk as JWK;
    const key = importPublicJwk(header.jwk);
    verifySignature(decoded, key);
  } catch (error) {
    return fail('dpop_signature_invalid', `the DPoP proof does not verify with its own key: ${(error as Error).message}`);
  }
  if (payload.htm !== check.method) return fail('dpop_htm_mismatch', `the DPoP proof is for method ${String(payload.htm)}, not ${check.method}`);
  const htu = typeof payload.htu === 'string' ? normalizeHtu(payload.htu) : null;
  if (htu === null || htu !== normalizeHtu(check.url)) return fail('dpop_htu_mismatch', `the DPoP proof is not for ${normalizeHtu(check.url)}`);
  const iat = payload.iat;
  if (typeof iat !== 'number' || !Number.isFinite(iat)) return fail('dpop_iat_missing', 'the DPoP proof has no numeric "iat"');
  if (iat > check.now + check.maxAge || iat < check.now - check.maxAge || iat < check.notBefore) {
    return fail('dpop_iat_stale', `the DPoP proof was not issued within the last ${check.maxAge} seconds`);
  }
  if (typeof payload.jti !== 'string' || payload.jti.length < 8 || payload.jti.length > 256) return fail('dpop_jti_missing', 'the DPoP proof needs a unique "jti" (8 to 256 characters)');
  if (check.accessToken !== undefined && payload.ath !== accessTokenHash(check.accessToken)) {
    return fail('dpop_ath_mismatch', 'the DPoP proof "ath" is not the hash of the presented access token');
  }
  const jkt = jwkThumbprint(jwk);
  if (!check.replayCache.consume(`dpop:${jkt}:${payload.jti}`, iat + check.maxAge, check.now)) {
    return fail('dpop_replayed', 'this DPoP proof has been used before');
  }
  return { jkt, jwk };
}
