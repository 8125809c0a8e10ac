import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { entryLeafHash, ledgerEntry } from './entry.ts';
import type { AuditEvent } from './event.ts';
import { leafHash } from './merkle/index.ts';

const event: AuditEvent = {
  kind: 'decision', time: 1_800_000_000_000, server: 'fs', person: 'alice', agents: ['spiffe://t/agent/bot'], mandate: 'mnd_1', purpose: 'report',
  method: 'tools/call', tool: 'read_file', argumentsDigest: 'sha256:ab', decision: 'allow', reason: null, policies: ['p'], policySetHash: 'sha256:x', outcome: null, latencyMs: null,
};

describe('ledger entries', () => {
  it('are the event as JSON with its sequence number first', () => {
    const entry = ledgerEntry(7, event);
    assert.ok(entry.startsWith('{"seq":7,"kind":"decision",'));
    assert.deepEqual(JSON.parse(entry), { seq: 7, ...event });
  });

  it('hash as RFC 9162 leaves of their UTF-8 bytes', () => {
    const entry = ledgerEntry(1, { ...event, purpose: 'rapport trimestriel — été' });
    assert.equal(entryLeafHash(entry).toString('hex'), Buffer.from(leafHash(new Uint8Array(Buffer.from(entry, 'utf8')))).toString('hex'));
    assert.equal(entryLeafHash(entry).toString('hex'), createHash('sha256').update(Buffer.concat([Buffer.from([0]), Buffer.from(entry, 'utf8')])).digest('hex'));
  });

  it('leave out what grows with the caller\'s input when the event would not fit an entry bundle, and say so', () => {
    const huge = { ...event, request: { principal: { type: 'Agent', id: 'a' }, action: 'tools/call', resource: { type: 'Tool', id: 'fs/read_file' }, context: { arguments: { text: 'x'.repeat(70_000) } }, entities: [] } };
    const entry = ledgerEntry(2, huge);
    assert.ok(Buffer.byteLength(entry) <= 65_535);
    const parsed = JSON.parse(entry) as AuditEvent & { omitted: string[] };
    assert.deepEqual(parsed.omitted, ['request']);
    assert.equal(parsed.argumentsDigest, 'sha256:ab', 'the digest of the arguments stays');
    assert.equal('request' in parsed, false);
    assert.equal(ledgerEntry(3, event).includes('omitted'), false, 'an event that fits is whole');
  });

  it('cut overlong fixed fields as a last resort', () => {
    const entry = ledgerEntry(4, { ...event, purpose: 'p'.repeat(80_000) });
    assert.ok(Buffer.byteLength(entry) <= 65_535);
    const parsed = JSON.parse(entry) as AuditEvent & { omitted: string[] };
    assert.deepEqual(parsed.omitted, ['long_fields']);
    assert.match(parsed.purpose ?? '', /… \[80000 characters\]$/);
  });
});
