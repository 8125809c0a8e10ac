// The three kinds of token Mandate signs, told apart by their JOSE `typ` so one can
// never be presented as another (RFC 8725 §3.11):
//   person token   `person+jwt`   a person signed in through the embedded identity provider
//   mandate token  `mandate+jwt`  a grant of authority from a person to one agent (`may_act`)
//   task token     `at+jwt`       an RFC 9068 access token for one gateway resource, DPoP-bound
import { randomUUID } from 'node:crypto';
import { MandateError } from '../errors.ts';
import { decodeJws, signJws, verifySignature } from './jws.ts';
import { checkRegisteredClaims } from './jwt-claims.ts';
import type { KeyRing } from './keyring.ts';

export const TOKEN_TYP = { person: 'person+jwt', mandate: 'mandate+jwt', task: 'at+jwt' } as const;
export type TokenKind = keyof typeof TOKEN_TYP;

export interface Actor {
  sub: string;
  act?: Actor;
}

export interface PersonClaims {
  iss: string;
  sub: string;
  aud: string;
  iat: number;
  exp: number;
  jti: string;
}

export interface MandateClaims extends PersonClaims {
  may_act: { sub: string };
  mandate_id: string;
  scope: string;
}

export interface TaskClaims {
  iss: string;
  sub: string;
  aud: string;
  iat: number;
  exp: number;
  jti: string;
  client_id: string;
  scope: string;
  act: Actor;
  mandate_id: string;
  cnf: { jkt: string };
}

export interface TokenServiceOptions {
  issuer: string;
  clockTolerance: number;
}

/** Verified tokens are remembered until they expire, so a token presented again costs no signature check. */
const CACHE_LIMIT = 10_000;

export class TokenService {
  readonly #keys: KeyRing;
  readonly #options: TokenServiceOptions;
  #verified = new Map<string, { kind: TokenKind; kid: unknown; claims: Record<string, unknown> }>();
  #cachedForKeys = -1;

  constructor(keys: KeyRing, options: TokenServiceOptions) {
    this.#keys = keys;
    this.#options = options;
  }

  get issuer(): string {
    return this.#options.issuer;
  }

  sign(kind: TokenKind, claims: object): string {
    const { kid, privateKey } = this.#keys.current;
    return signJws({ alg: 'ES256', typ: TOKEN_TYP[kind], kid }, claims as Record<string, unknown>, privateKey);
  }

  issuePerson(personId: string, ttl: number, now: number): { token: string; claims: PersonClaims } {
    const claims: PersonClaims = { iss: this.issuer, sub: personId, aud: this.issuer, iat: now, exp: now + ttl, jti: randomUUID() };
    return { token: this.sign('person', claims), claims };
  }

  /**
   * Verifies a token Mandate signed: size, algorithm (ES256 only), `typ`, `kid` in the
   * published set, signature, issuer, audience and times. Errors carry precise codes.
   */
  verify(kind: TokenKind, token: string, audience: string | readonly string[], now: number): Record<string, unknown> {
    if (this.#cachedForKeys !== this.#keys.version) {
      this.#verified.clear();
      this.#cachedForKeys = this.#keys.version;
    }
    const cached = this.#verified.get(token);
    let claims: Record<string, unknown> | undefined;
    if (cached?.kind === kind) {
      // Its key may have retired since (retireAfter passes without a reload): still refuse it then.
      this.#keys.verificationKey(cached.kid, now);
      claims = cached.claims;
    }
    if (!claims) {
      const decoded = decodeJws(token, ['ES256']);
      if (decoded.header.typ !== TOKEN_TYP[kind]) {
        throw new MandateError('token_type_mismatch', `expected a ${kind} token (typ ${TOKEN_TYP[kind]}), got typ ${String(decoded.header.typ ?? 'none')}`);
      }
      verifySignature(decoded, this.#keys.verificationKey(decoded.header.kid, now));
      claims = decoded.payload;
      if (this.#verified.size >= CACHE_LIMIT) this.#verified.clear();
      this.#verified.set(token, { kind, kid: decoded.header.kid, claims });
    }
    checkRegisteredClaims(claims, { issuer: this.issuer, audience, now, clockTolerance: this.#options.clockTolerance });
    if (typeof claims.sub !== 'string' || claims.sub.length === 0) throw new MandateError('token_claim_missing', 'the token has no "sub"');
    if (typeof claims.jti !== 'string') throw new MandateError('token_claim_missing', 'the token has no "jti"');
    return claims;
  }
}
