// Envelope encryption: a sealed secret opens only with the KEK its data key is
// wrapped with, only for the credential, server and target it was sealed for, and a
// rewrap under a new KEK keeps it openable without touching the sealed secret.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { MandateError } from '../errors.ts';
import { kekFromBytes } from './kek.ts';
import { rewrap, seal, unseal } from './seal.ts';

const SECRET = 'ghs_sealed-credential-value-0123456789';
const binding = { credentialId: 'crd_1', server: 'github', target: 'header:authorization' };
const kek = kekFromBytes(randomBytes(32));
const other = kekFromBytes(randomBytes(32));

const refusesWith = (code: string) => (error: unknown): boolean => {
  assert.ok(error instanceof MandateError, String(error));
  assert.equal(error.code, code);
  assert.doesNotMatch(error.message, new RegExp(SECRET));
  return true;
};

describe('sealing a credential', () => {
  it('opens with the KEK and the binding it was sealed for, and holds no trace of the secret', () => {
    const sealed = seal(Buffer.from(SECRET), binding, kek);
    assert.equal(sealed.kekId, kek.id);
    assert.equal(unseal(sealed, binding, kek).toString(), SECRET);
    for (const blob of [sealed.sealed, sealed.wrappedKey]) {
      for (const form of [SECRET, Buffer.from(SECRET).toString('base64'), Buffer.from(SECRET).toString('hex')]) assert.ok(!blob.includes(Buffer.from(form)), 'no form of the secret in the blob');
    }
    assert.ok(!sealed.wrappedKey.includes(kek.key.subarray(0, 8)));
  });

  it('uses a fresh data key and nonce every time', () => {
    const a = seal(Buffer.from(SECRET), binding, kek);
    const b = seal(Buffer.from(SECRET), binding, kek);
    assert.notDeepEqual(a.sealed, b.sealed);
    assert.notDeepEqual(a.wrappedKey, b.wrappedKey);
  });

  it('does not open for another credential, server or target (a blob moved is refused)', () => {
    const sealed = seal(Buffer.from(SECRET), binding, kek);
    assert.throws(() => unseal(sealed, { ...binding, credentialId: 'crd_2' }, kek), refusesWith('credential_tampered'));
    assert.throws(() => unseal(sealed, { ...binding, server: 'gitlab' }, kek), refusesWith('credential_tampered'));
    assert.throws(() => unseal(sealed, { ...binding, target: 'header:x-debug' }, kek), refusesWith('credential_tampered'));
    const second = seal(Buffer.from('another-secret-value'), { ...binding, credentialId: 'crd_2' }, kek);
    assert.throws(() => unseal({ sealed: sealed.sealed, wrappedKey: second.wrappedKey }, binding, kek), refusesWith('credential_tampered'));
  });

  it('refuses a wrong KEK and any altered byte, naming the credential, never the secret', () => {
    const sealed = seal(Buffer.from(SECRET), binding, kek);
    assert.throws(() => unseal(sealed, binding, other), refusesWith('credential_tampered'));
    for (const which of ['sealed', 'wrappedKey'] as const) {
      for (const at of [0, 5, sealed[which].length - 1]) {
        const altered = Buffer.from(sealed[which]);
        altered[at] = (altered[at] as number) ^ 1;
        assert.throws(() => unseal({ ...sealed, [which]: altered }, binding, kek), refusesWith('credential_tampered'));
      }
    }
    assert.throws(() => unseal({ ...sealed, sealed: new Uint8Array(3) }, binding, kek), refusesWith('credential_tampered'));
  });

  it('rewraps the data key under a new KEK; the sealed secret is unchanged and the old KEK no longer opens it', () => {
    const sealed = seal(Buffer.from(SECRET), binding, kek);
    const wrappedKey = rewrap(sealed.wrappedKey, binding.credentialId, kek, other);
    assert.equal(unseal({ sealed: sealed.sealed, wrappedKey }, binding, other).toString(), SECRET);
    assert.throws(() => unseal({ sealed: sealed.sealed, wrappedKey }, binding, kek), refusesWith('credential_tampered'));
    assert.throws(() => rewrap(sealed.wrappedKey, binding.credentialId, other, kek), refusesWith('credential_tampered'));
  });
});
