// External OpenID Connect issuers (Okta, Entra ID, Keycloak, …) whose tokens are
// accepted as person tokens after full verification: signature against the issuer's
// JWKS, issuer, audience, expiry. People are known by (issuer, subject) and created
// on first sight.
import { createRemoteJWKSet, decodeJwt, errors as joseErrors, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { badRequest, notFound, unauthorized } from '../errors.ts';
import type { IdentityProvider, Person, Store } from '../store/types.ts';
import { MAX_TOKEN_BYTES } from './jws.ts';

const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];
const NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

interface Loaded {
  provider: IdentityProvider;
  keys: JWTVerifyGetKey;
}

function httpUrl(value: string, what: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw badRequest('invalid_identity_provider', `${what} is not a URL: ${value}`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw badRequest('invalid_identity_provider', `${what} must be an http(s) URL`);
  return value;
}

export class ExternalIssuers {
  readonly #store: Store;
  readonly #clockTolerance: number;
  #byIssuer = new Map<string, Loaded>();

  constructor(store: Store, clockTolerance: number) {
    this.#store = store;
    this.#clockTolerance = clockTolerance;
  }

  async load(): Promise<void> {
    const next = new Map<string, Loaded>();
    for (const provider of await this.#store.listIdentityProviders()) {
      const known = this.#byIssuer.get(provider.issuer);
      const keys = known && known.provider.jwksUri === provider.jwksUri ? known.keys : createRemoteJWKSet(new URL(provider.jwksUri), { timeoutDuration: 5000 });
      next.set(provider.issuer, { provider, keys });
    }
    this.#byIssuer = next;
  }

  list(): IdentityProvider[] {
    return [...this.#byIssuer.values()].map((l) => l.provider);
  }

  async add(input: { name: string; issuer: string; audience: string; jwksUri: string; subjectClaim?: string | undefined }, now: number): Promise<IdentityProvider> {
    if (!NAME.test(input.name)) throw badRequest('invalid_identity_provider', 'the name must be lower-case letters, digits and "-"');
    const provider: IdentityProvider = {
      name: input.name,
      issuer: httpUrl(input.issuer, 'issuer'),
      audience: input.audience,
      jwksUri: httpUrl(input.jwksUri, 'jwks_uri'),
      subjectClaim: input.subjectClaim ?? 'sub',
      createdAt: now,
    };
    await this.#store.addIdentityProvider(provider);
    await this.load();
    return provider;
  }

  async remove(name: string): Promise<void> {
    if (!(await this.#store.removeIdentityProvider(name))) throw notFound('identity_provider_not_found', `no identity provider named ${name}`);
    await this.load();
  }

  /** The `iss` a token claims, unverified (to route it to the right verifier), or null. */
  claimsIssuer(token: string): string | null {
    try {
      const iss = decodeJwt(token).iss;
      return typeof iss === 'string' ? iss : null;
    } catch {
      return null;
    }
  }

  async authenticate(token: string, now: number): Promise<Person> {
    if (token.length > MAX_TOKEN_BYTES) throw unauthorized('token_too_large', `the token is larger than ${MAX_TOKEN_BYTES} bytes`);
    const issuer = this.claimsIssuer(token);
    const loaded = issuer === null ? undefined : this.#byIssuer.get(issuer);
    if (!loaded) throw unauthorized('issuer_not_trusted', `tokens from ${issuer ?? 'an unknown issuer'} are not accepted: configure the issuer first`);
    const { provider, keys } = loaded;
    let claims;
    try {
      ({ payload: claims } = await jwtVerify(token, keys, {
        issuer: provider.issuer,
        audience: provider.audience,
        algorithms: ALGORITHMS,
        requiredClaims: ['exp', 'iat', 'sub'],
        clockTolerance: this.#clockTolerance,
        currentDate: new Date(now * 1000),
      }));
    } catch (error) {
      const code = error instanceof joseErrors.JWTExpired ? 'token_expired'
        : error instanceof joseErrors.JWTClaimValidationFailed ? `token_claim_invalid`
        : error instanceof joseErrors.JWKSNoMatchingKey ? 'token_kid_unknown'
        : error instanceof joseErrors.JWKSTimeout ? 'issuer_unreachable'
        : 'token_invalid';
      throw unauthorized(code, `the token from ${provider.issuer} did not verify: ${(error as Error).message}`);
    }
    const subject = claims[provider.subjectClaim];
    if (typeof subject !== 'string' || subject.length === 0) throw unauthorized('token_claim_missing', `the token has no "${provider.subjectClaim}" claim to name the person`);
    return this.#store.ensureExternalPerson({
      id: subject,
      email: typeof claims.email === 'string' ? claims.email : null,
      name: typeof claims.name === 'string' ? claims.name : null,
      status: 'active',
      issuer: provider.issuer,
      subject: String(claims.sub),
      createdAt: now,
    });
  }
}
