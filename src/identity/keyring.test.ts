// The signing-key ring over a real SQLite store: what it publishes, which kids it
// accepts, and how a rotation hands over without breaking tokens already issued.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MandateError } from '../errors.ts';
import { SqliteStore } from '../store/sqlite/sqlite-store.ts';
import { generateSigningKey, KeyRing } from './keyring.ts';
import { TokenService } from './tokens.ts';

const ISSUER = 'https://mandate.test';
const NOW = 1_800_000_000;
const TOLERANCE = 30;

let dir: string;
let store: SqliteStore;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mandate-keyring-'));
  store = new SqliteStore(join(dir, 'mandate.db'));
});
afterEach(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

async function initialisedRing(): Promise<KeyRing> {
  await store.addSigningKey(generateSigningKey('current', NOW));
  await store.addSigningKey(generateSigningKey('next', NOW));
  const keys = new KeyRing(store);
  await keys.load();
  return keys;
}

async function refusesAsync(promise: Promise<unknown>, code: string): Promise<MandateError> {
  let caught: unknown;
  await promise.catch((error: unknown) => {
    caught = error;
  });
  assert.ok(caught instanceof MandateError, `expected a MandateError, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  return caught;
}

function refuses(fn: () => unknown, code: string): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof MandateError, `expected a MandateError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    return true;
  });
}

const mandateClaims = (exp: number): Record<string, unknown> => ({ iss: ISSUER, sub: 'alice', aud: ISSUER, iat: NOW, exp, jti: randomUUID() });

describe('KeyRing.load', () => {
  it('refuses to start without a current key (503 keys_missing)', async () => {
    await store.addSigningKey(generateSigningKey('next', NOW));
    const error = await refusesAsync(new KeyRing(store).load(), 'keys_missing');
    assert.equal(error.status, 503);
  });

  it('refuses to sign before the keys are loaded', () => {
    refuses(() => new KeyRing(store).current, 'keys_missing');
  });
});

describe('KeyRing publication', () => {
  it('publishes the current and the next key, public members only', async () => {
    const keys = await initialisedRing();
    const published = keys.jwks(NOW).keys;
    const states = Object.fromEntries(keys.describe().map((k) => [k.kid, k.state]));
    assert.deepEqual(published.map((k) => states[String(k.kid)]).sort(), ['current', 'next']);
    for (const jwk of published) {
      assert.equal(jwk.d, undefined, 'a private member was published');
      assert.equal(jwk.alg, 'ES256');
      assert.equal(jwk.use, 'sig');
    }
  });

  it('signs with the current key, not the pre-published next key', async () => {
    const keys = await initialisedRing();
    assert.equal(keys.describe().find((k) => k.state === 'current')?.kid, keys.current.kid);
  });

  it('refuses a missing kid', async () => {
    const keys = await initialisedRing();
    refuses(() => keys.verificationKey(undefined, NOW), 'token_kid_missing');
    refuses(() => keys.verificationKey('', NOW), 'token_kid_missing');
  });

  it('refuses a kid outside the published set', async () => {
    const keys = await initialisedRing();
    refuses(() => keys.verificationKey('not-published', NOW), 'token_kid_unknown');
  });

  it('refuses a kid that names an Object prototype member', async () => {
    const keys = await initialisedRing();
    refuses(() => keys.verificationKey('__proto__', NOW), 'token_kid_unknown');
    refuses(() => keys.verificationKey('constructor', NOW), 'token_kid_unknown');
  });
});

describe('KeyRing.rotate', () => {
  it('promotes the pre-published key and publishes a fresh next key', async () => {
    const keys = await initialisedRing();
    const before = keys.describe();
    const oldCurrent = before.find((k) => k.state === 'current')?.kid;
    const oldNext = before.find((k) => k.state === 'next')?.kid;
    const version = keys.version;
    await keys.rotate(3600, NOW);
    const after = keys.describe();
    assert.equal(keys.current.kid, oldNext);
    assert.equal(after.find((k) => k.kid === oldCurrent)?.state, 'retiring');
    assert.equal(after.find((k) => k.kid === oldCurrent)?.retireAfter, NOW + 3600);
    const newNext = after.find((k) => k.state === 'next')?.kid;
    assert.ok(newNext && newNext !== oldCurrent && newNext !== oldNext);
    assert.ok(keys.version > version, 'the version must change so verified-token caches are dropped');
  });

  it('keeps verifying a token signed by the retiring key until retireAfter, then refuses it', async () => {
    const keys = await initialisedRing();
    const tokens = new TokenService(keys, { issuer: ISSUER, clockTolerance: TOLERANCE });
    // Issued before the rotation, and (unusually) meant to live past the retiring key.
    const token = tokens.sign('mandate', mandateClaims(NOW + 10_000));
    const oldKid = keys.current.kid;
    await keys.rotate(3600, NOW);
    assert.notEqual(keys.current.kid, oldKid);
    assert.equal(tokens.verify('mandate', token, ISSUER, NOW + 10).sub, 'alice');
    assert.equal(tokens.verify('mandate', token, ISSUER, NOW + 3600).sub, 'alice');
    assert.ok(keys.jwks(NOW + 3600).keys.some((k) => k.kid === oldKid), 'still published at retireAfter');
    refuses(() => tokens.verify('mandate', token, ISSUER, NOW + 3601), 'token_kid_unknown');
    assert.ok(!keys.jwks(NOW + 3601).keys.some((k) => k.kid === oldKid), 'no longer published after retireAfter');
  });

  it('refuses a retired key to a freshly started service as well', async () => {
    const keys = await initialisedRing();
    const token = new TokenService(keys, { issuer: ISSUER, clockTolerance: TOLERANCE }).sign('mandate', mandateClaims(NOW + 10_000));
    await keys.rotate(3600, NOW);
    const restarted = new KeyRing(store);
    await restarted.load();
    const tokens = new TokenService(restarted, { issuer: ISSUER, clockTolerance: TOLERANCE });
    assert.equal(tokens.verify('mandate', token, ISSUER, NOW + 100).sub, 'alice');
    refuses(() => tokens.verify('mandate', token, ISSUER, NOW + 3601), 'token_kid_unknown');
  });

  it('drops a retiring key from the store at the next rotation after its time', async () => {
    const keys = await initialisedRing();
    const first = keys.current.kid;
    await keys.rotate(3600, NOW);
    await keys.rotate(3600, NOW + 7200);
    assert.ok(!keys.describe().some((k) => k.kid === first));
    refuses(() => keys.verificationKey(first, NOW + 7200), 'token_kid_unknown');
  });

  it('signs new tokens with the promoted key', async () => {
    const keys = await initialisedRing();
    const tokens = new TokenService(keys, { issuer: ISSUER, clockTolerance: TOLERANCE });
    await keys.rotate(3600, NOW);
    const token = tokens.sign('mandate', mandateClaims(NOW + 600));
    const header = JSON.parse(Buffer.from(token.split('.')[0] as string, 'base64url').toString()) as Record<string, unknown>;
    assert.equal(header.kid, keys.current.kid);
    assert.equal(tokens.verify('mandate', token, ISSUER, NOW).sub, 'alice');
  });
});
