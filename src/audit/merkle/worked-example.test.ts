// The worked example of docs/audit-ledger.md, checked against the code, so the page an
// auditor tests their tooling with stays true.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { formatSignerKey, parseSignerKey, parseVerifierKey } from '../note/index.ts';
import { openCheckpoint, signCheckpoint } from './checkpoint.ts';
import { leafHash } from './hash.ts';
import { verifyInclusion } from './inclusion-proof.ts';
import { IncrementalTree } from './incremental-tree.ts';
import { fromBase64 } from './testdata/assert.ts';

const page = readFileSync(new URL('../../../docs/audit-ledger.md', import.meta.url), 'utf8');
const after = (marker: string): string => page.slice(page.indexOf(marker) + marker.length);

describe('the worked example of docs/audit-ledger.md', () => {
  const origin = 'example.com/mandate-audit';
  const entries = ['alpha', 'bravo', 'charlie', 'delta', 'echo'].map((s) => new TextEncoder().encode(s));
  const checkpoint = (after('tree of the five entries').match(/```\n([\s\S]*?)```/) as RegExpMatchArray)[1] as string;
  const verifierKey = (after('**Verifier key**').match(/`(example\.com\/mandate-audit\+[^`]+)`/) as RegExpMatchArray)[1] as string;
  const signerKey = (after('**Signer key**').match(/`(PRIVATE\+KEY\+example\.com\/mandate-audit\+[^`]+)`/) as RegExpMatchArray)[1] as string;

  it('is the checkpoint the all-zero seed key signs for those five entries', () => {
    assert.equal(formatSignerKey(origin, new Uint8Array(32)), signerKey);
    const tree = IncrementalTree.empty();
    for (const entry of entries) tree.appendEntry(entry);
    assert.equal(signCheckpoint({ origin, size: 5, rootHash: tree.root() }, [parseSignerKey(signerKey)]), checkpoint);
    const opened = openCheckpoint(checkpoint, { origin, verifiers: [parseVerifierKey(verifierKey)] });
    assert.equal(opened.checkpoint.size, 5);
  });

  it('proves charlie with the inclusion proof it gives', () => {
    const proof = [...(after('inclusion proof of `charlie`').split('\n\n')[0] as string).matchAll(/`([A-Za-z0-9+/=]{44})`/g)].map((m) => fromBase64(m[1] as string));
    assert.equal(proof.length, 3);
    const { checkpoint: head } = openCheckpoint(checkpoint, { origin, verifiers: [parseVerifierKey(verifierKey)] });
    verifyInclusion({ leafIndex: 2, treeSize: 5, leafHash: leafHash(entries[2] as Uint8Array), proof, rootHash: head.rootHash });
  });
});
