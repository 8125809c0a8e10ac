// The token-signing keys. A new key is published in the JWKS (state `next`) one
// rotation before it signs, so relying parties that cache the JWKS already know it;
// a replaced key stays published (`retiring`) until every token it signed has expired.
import { createPrivateKey, generateKeyPairSync, type KeyObject, type JsonWebKey } from 'node:crypto';
import { MandateError } from '../errors.ts';
import type { SigningKey, Store } from '../store/types.ts';
import { importPublicJwk, jwkThumbprint, publicPart, type JWK } from './jwk.ts';

export function generateSigningKey(state: SigningKey['state'], now: number): SigningKey {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const privateJwk = privateKey.export({ format: 'jwk' }) as JWK;
  const kid = jwkThumbprint(privateJwk);
  const publicJwk: JWK = { ...publicPart(privateJwk), kid, alg: 'ES256', use: 'sig' };
  return { kid, alg: 'ES256', publicJwk, privateJwk: { ...privateJwk, kid }, state, createdAt: now, retireAfter: null };
}

interface LoadedKey {
  record: SigningKey;
  publicKey: KeyObject;
}

export class KeyRing {
  readonly #store: Store;
  #keys = new Map<string, LoadedKey>();
  #current: { kid: string; privateKey: KeyObject } | null = null;
  #version = 0;

  constructor(store: Store) {
    this.#store = store;
  }

  /** Bumped whenever the published set changes, so caches of verified tokens can be dropped. */
  get version(): number {
    return this.#version;
  }

  async load(): Promise<void> {
    const records = await this.#store.listSigningKeys();
    const keys = new Map<string, LoadedKey>();
    let current: { kid: string; privateKey: KeyObject } | null = null;
    for (const record of records) {
      keys.set(record.kid, { record, publicKey: importPublicJwk(record.publicJwk) });
      if (record.state === 'current') current = { kid: record.kid, privateKey: createPrivateKey({ key: record.privateJwk as JsonWebKey, format: 'jwk' }) };
    }
    if (!current) throw new MandateError('keys_missing', 'no current signing key: run `mandate init`', { status: 503 });
    this.#keys = keys;
    this.#current = current;
    this.#version++;
  }

  get current(): { kid: string; privateKey: KeyObject } {
    if (!this.#current) throw new MandateError('keys_missing', 'signing keys are not loaded', { status: 503 });
    return this.#current;
  }

  /** The public key for a `kid` in the published set, or an error naming the unknown kid. */
  verificationKey(kid: unknown, now: number): KeyObject {
    if (typeof kid !== 'string' || kid.length === 0) throw new MandateError('token_kid_missing', 'the token header has no "kid"');
    const key = this.#keys.get(kid);
    if (!key || (key.record.retireAfter !== null && key.record.retireAfter < now)) {
      throw new MandateError('token_kid_unknown', 'the token was signed with a key that is not in the published key set');
    }
    return key.publicKey;
  }

  jwks(now: number): { keys: JWK[] } {
    return {
      keys: [...this.#keys.values()]
        .filter((key) => key.record.retireAfter === null || key.record.retireAfter >= now)
        .map((key) => key.record.publicJwk),
    };
  }

  describe(): Array<Pick<SigningKey, 'kid' | 'alg' | 'state' | 'createdAt' | 'retireAfter'>> {
    return [...this.#keys.values()].map(({ record }) => ({ kid: record.kid, alg: record.alg, state: record.state, createdAt: record.createdAt, retireAfter: record.retireAfter }));
  }

  /**
   * Promotes the pre-published key to signing, keeps the old one published for
   * `maxTokenLifetime` seconds, and publishes a fresh `next` key.
   */
  async rotate(maxTokenLifetime: number, now: number): Promise<void> {
    await this.#store.rotateSigningKeys(generateSigningKey('next', now), now + maxTokenLifetime, now);
    await this.load();
  }
}
