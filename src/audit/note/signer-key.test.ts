import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { throwsLedger } from '../merkle/testdata/assert.ts';
import { formatKeyId } from './key-id.ts';
import { formatSignerKey, generateNoteKey, parseSignerKey } from './signer-key.ts';
import { KEY_PAIRS, PETER_SIGNER_KEY, PETER_VERIFIER_KEY } from './testdata/go-sumdb-note.ts';
import { formatVerifierKey, parseVerifierKey } from './verifier-key.ts';

describe('signer keys', () => {
  it('derive exactly the published verifier keys', () => {
    for (const { signerKey, verifierKey } of [{ signerKey: PETER_SIGNER_KEY, verifierKey: PETER_VERIFIER_KEY }, ...KEY_PAIRS]) {
      const signer = parseSignerKey(signerKey);
      assert.equal(formatVerifierKey(signer), verifierKey);
      const seed = new Uint8Array(Buffer.from(signerKey.split('+').slice(4).join('+'), 'base64')).subarray(1);
      assert.equal(formatSignerKey(signer.name, seed), signerKey);
    }
  });

  it('refuses every substring and every one-character change of a published key (as TestNewSigner does)', () => {
    const key = PETER_SIGNER_KEY;
    for (let i = 0; i <= key.length; i++) {
      for (let j = i + 1; j <= key.length; j++) {
        if (i !== 0 || j !== key.length) throwsLedger(() => parseSignerKey(key.slice(i, j)), 'key_malformed', undefined, key.slice(i, j));
      }
    }
    for (let i = 0; i < key.length; i++) {
      const changed = key.slice(0, i) + String.fromCharCode(key.charCodeAt(i) + 1) + key.slice(i + 1);
      throwsLedger(() => parseSignerKey(changed), 'key_malformed', undefined, changed);
    }
  });

  it('generates key pairs that belong together', () => {
    const { signerKey, verifierKey } = generateNoteKey('audit.example.com/mandate');
    const signer = parseSignerKey(signerKey);
    const verifier = parseVerifierKey(verifierKey);
    assert.equal(verifier.name, 'audit.example.com/mandate');
    assert.equal(formatKeyId(verifier.keyId), formatKeyId(signer.keyId));
    const text = new TextEncoder().encode('hi\n');
    assert.equal(verifier.verify(text, signer.sign(text)), true);
    assert.match(signerKey, /^PRIVATE\+KEY\+audit\.example\.com\/mandate\+[0-9a-f]{8}\+A/);
    throwsLedger(() => generateNoteKey('a+b'), 'key_malformed', /plus sign/);
  });
});
