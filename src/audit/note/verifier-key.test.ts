import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { throwsLedger } from '../merkle/testdata/assert.ts';
import { BAD_VERIFIER_KEYS, ENOCH_VERIFIER_KEY, PETER_VERIFIER_KEY, SUM_GOLANG_ORG_VERIFIER_KEY } from './testdata/go-sumdb-note.ts';
import { formatKeyId, noteKeyId, ED25519 } from './key-id.ts';
import { formatVerifierKey, parseVerifierKey } from './verifier-key.ts';

describe('verifier keys', () => {
  it('reads the published keys, with the key ID SHA-256(name || 0x0A || 0x01 || key)[:4]', () => {
    for (const [vkey, name, id] of [
      [PETER_VERIFIER_KEY, 'PeterNeumann', 'c74f20a3'],
      [ENOCH_VERIFIER_KEY, 'EnochRoot', 'af0cfe78'],
      [SUM_GOLANG_ORG_VERIFIER_KEY, 'sum.golang.org', '033de0ae'],
    ] as const) {
      const verifier = parseVerifierKey(vkey);
      assert.equal(verifier.name, name);
      assert.equal(formatKeyId(verifier.keyId), id);
      assert.equal(formatKeyId(noteKeyId(name, ED25519, verifier.publicKey)), id);
      assert.equal(verifier.publicKey.length, 32);
      assert.equal(formatVerifierKey(verifier), vkey);
    }
  });

  it('refuses every substring and every one-character change of a published key (as TestNewVerifier does)', () => {
    const key = PETER_VERIFIER_KEY;
    for (let i = 0; i <= key.length; i++) {
      for (let j = i + 1; j <= key.length; j++) {
        if (i !== 0 || j !== key.length) throwsLedger(() => parseVerifierKey(key.slice(i, j)), 'key_malformed', undefined, key.slice(i, j));
      }
    }
    for (let i = 0; i < key.length; i++) {
      const changed = key.slice(0, i) + String.fromCharCode(key.charCodeAt(i) + 1) + key.slice(i + 1);
      throwsLedger(() => parseVerifierKey(changed), 'key_malformed', undefined, changed);
    }
    throwsLedger(() => parseVerifierKey(BAD_VERIFIER_KEYS[0] as string), 'key_malformed', /33 bytes|not standard base64/);
    throwsLedger(() => parseVerifierKey(BAD_VERIFIER_KEYS[1] as string), 'key_malformed', /type 0x65 is not Ed25519/);
  });

  it('says what is wrong with a key', () => {
    throwsLedger(() => parseVerifierKey('PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW'), 'key_malformed', /key ID c74f20a4 is not the ID of its key \(c74f20a3\)/);
    throwsLedger(() => parseVerifierKey('Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW'), 'key_malformed', /name "Peter Neumann"/);
    throwsLedger(() => parseVerifierKey('PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW'), 'key_malformed', /8 lowercase hex digits/);
    throwsLedger(() => parseVerifierKey('PeterNeumann'), 'key_malformed', /<name>\+<key ID in hex>\+<base64 key>/);
  });
});
