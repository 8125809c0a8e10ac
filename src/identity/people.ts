// People: the embedded directory, person tokens from the embedded identity provider,
// and resolution of a presented person token (embedded or external OIDC) to a person.
import { MandateError, badRequest, notFound, unauthorized } from '../errors.ts';
import type { Person, Store } from '../store/types.ts';
import type { ExternalIssuers } from './oidc-issuers.ts';
import type { TokenService } from './tokens.ts';

const PERSON_ID = /^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$/;

export class People {
  readonly #store: Store;
  readonly #tokens: TokenService;
  readonly #external: ExternalIssuers;
  readonly #tokenTtl: number;

  constructor(store: Store, tokens: TokenService, external: ExternalIssuers, tokenTtl: number) {
    this.#store = store;
    this.#tokens = tokens;
    this.#external = external;
    this.#tokenTtl = tokenTtl;
  }

  async add(input: { id: string; email?: string | undefined; name?: string | undefined }, now: number): Promise<Person> {
    if (!PERSON_ID.test(input.id)) throw badRequest('invalid_person_id', `person id "${input.id}" must be 1–128 characters: letters, digits, ".", "_", "@", "+", "-"`);
    const person: Person = { id: input.id, email: input.email ?? null, name: input.name ?? null, status: 'active', issuer: null, subject: null, createdAt: now };
    await this.#store.createPerson(person);
    return person;
  }

  async get(id: string): Promise<Person> {
    const person = await this.#store.getPerson(id);
    if (!person) throw notFound('person_not_found', `no person with id ${id}`);
    return person;
  }

  async setStatus(id: string, status: Person['status']): Promise<Person> {
    const person = await this.#store.setPersonStatus(id, status);
    if (!person) throw notFound('person_not_found', `no person with id ${id}`);
    return person;
  }

  /** A person token from the embedded identity provider, for an active person of the embedded directory. */
  async login(id: string, now: number): Promise<{ token: string; expiresAt: number }> {
    const person = await this.get(id);
    if (person.issuer !== null) throw badRequest('person_external', `${id} signs in through ${person.issuer}, not the embedded identity provider`);
    if (person.status !== 'active') throw new MandateError('person_inactive', `${id} is ${person.status}`, { status: 403 });
    const { token, claims } = this.#tokens.issuePerson(person.id, this.#tokenTtl, now);
    return { token, expiresAt: claims.exp };
  }

  /** The active person a token speaks for: a Mandate person token, or a token from a configured OIDC issuer. */
  async authenticate(token: string, now: number): Promise<Person> {
    let person: Person | null;
    const issuer = this.#external.claimsIssuer(token);
    if (issuer === null || issuer === this.#tokens.issuer) {
      const claims = this.#tokens.verify('person', token, this.#tokens.issuer, now);
      if (await this.#store.isTokenIdRevoked(String(claims.jti), now)) throw unauthorized('token_revoked', 'the person token has been revoked');
      person = await this.#store.getPerson(String(claims.sub));
      if (person && person.issuer !== null) person = null;
    } else {
      person = await this.#external.authenticate(token, now);
    }
    if (!person) throw unauthorized('person_unknown', 'the token names no known person');
    if (person.status !== 'active') throw unauthorized('person_inactive', `${person.id} is ${person.status}`);
    return person;
  }
}
