// Registered-claim checks (RFC 7519 §4.1) shared by every token Mandate verifies.
import { MandateError } from '../errors.ts';

export interface ClaimExpectations {
  issuer: string;
  audience: string | readonly string[];
  now: number;
  /** Allowed clock difference in seconds. */
  clockTolerance: number;
  /** Refuse a token whose lifetime (exp − iat) is longer than this. */
  maxLifetime?: number;
}

const isNumericDate = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);

export function checkRegisteredClaims(claims: Record<string, unknown>, expect: ClaimExpectations): void {
  const { now, clockTolerance } = expect;
  if (claims.iss !== expect.issuer) throw new MandateError('token_issuer_mismatch', `the token issuer is not ${expect.issuer}`);
  checkAudience(claims.aud, expect.audience);
  if (!isNumericDate(claims.exp)) throw new MandateError('token_claim_missing', 'the token has no numeric "exp"');
  if (claims.exp <= now - clockTolerance) throw new MandateError('token_expired', 'the token has expired');
  if (claims.nbf !== undefined) {
    if (!isNumericDate(claims.nbf)) throw new MandateError('token_claim_invalid', 'the token "nbf" is not a number');
    if (claims.nbf > now + clockTolerance) throw new MandateError('token_not_yet_valid', 'the token is not valid yet (nbf is in the future)');
  }
  if (claims.iat !== undefined) {
    if (!isNumericDate(claims.iat)) throw new MandateError('token_claim_invalid', 'the token "iat" is not a number');
    if (claims.iat > now + clockTolerance) throw new MandateError('token_not_yet_valid', 'the token was issued in the future (iat)');
    if (expect.maxLifetime !== undefined && claims.exp - claims.iat > expect.maxLifetime) {
      throw new MandateError('token_lifetime_too_long', `the token lives longer than ${expect.maxLifetime} seconds`);
    }
  }
}

/** `aud` must be the expected value: a string, or an array holding exactly that one value. */
export function checkAudience(aud: unknown, expected: string | readonly string[]): void {
  const accepted = typeof expected === 'string' ? [expected] : expected;
  const value = Array.isArray(aud) && aud.length === 1 ? aud[0] : aud;
  if (typeof value !== 'string' || !accepted.includes(value)) {
    throw new MandateError('token_audience_mismatch', `the token audience is not ${accepted.join(' or ')}`);
  }
}
