// The audit ledger as outsiders see it: governed calls through the gateway become
// leaves of a Merkle log whose signed checkpoint, tiles and entry bundles are served
// in the C2SP formats; proofs from the API verify against the published key with the
// Merkle library alone; and the CLI verifies, exports, proves and explains offline.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { entryLeafHash } from '../src/audit/entry.ts';
import {
  merkleTreeHash, openCheckpoint, tileHashes, verifyConsistency, verifyEntryBundle, verifyInclusion, type Checkpoint,
} from '../src/audit/merkle/index.ts';
import { parseVerifierKey } from '../src/audit/note/index.ts';
import { connectToGateway } from '../src/client/mcp-client.ts';
import { exchange, grantScenario, startMandate, type Harness, type Scenario } from './harness.ts';
import { runMandate, type CliRun } from './fixtures/cli.ts';

const EVERYTHING = createRequire(import.meta.url).resolve('@modelcontextprotocol/server-everything/dist/index.js');

let h: Harness;
let s: Scenario;

before(async () => {
  h = await startMandate();
  const added = await h.api('POST', '/api/v1/servers', { body: { name: 'everything', command: process.execPath, args: [EVERYTHING, 'stdio'], tools: [{ name: 'echo', sensitivity: 'public', effect: 'read' }] } });
  assert.equal(added.status, 201, JSON.stringify(added.body));
  s = await grantScenario(h, { allow: ['everything/echo'] });
  const answer = await exchange(h, s, { resource: `${h.url}/mcp/everything` });
  const client = await connectToGateway(`${h.url}/mcp/everything`, String(answer.body.access_token), s.key, 'ledger');
  for (let i = 0; i < 3; i++) await client.callTool({ name: 'echo', arguments: { message: `hello ${i}` } });
  await assert.rejects(client.callTool({ name: 'get-env', arguments: {} }));
  await client.close();
  // A refused authentication is recorded too.
  const refused = await fetch(`${h.url}/mcp/everything`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: '{}' });
  assert.equal(refused.status, 401);
  await h.app.checkpoints.checkpoint();
});
after(() => h.close());

const text = async (path: string, token?: string): Promise<{ status: number; body: string }> => {
  const response = await fetch(`${h.url}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: response.status, body: await response.text() };
};
const bytes = async (path: string, token?: string): Promise<{ status: number; body: Uint8Array }> => {
  const response = await fetch(`${h.url}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: response.status, body: new Uint8Array(await response.arrayBuffer()) };
};
const b64 = (value: string): Uint8Array => new Uint8Array(Buffer.from(value, 'base64'));
const hex = (hash: Uint8Array): string => Buffer.from(hash).toString('hex');

async function signedHead(): Promise<Checkpoint> {
  const key = parseVerifierKey((await text('/audit/key')).body.trim());
  return openCheckpoint((await text('/audit/checkpoint')).body, { origin: key.name, verifiers: [key] }).checkpoint;
}

function cli(args: string[]): Promise<CliRun> {
  return runMandate(args, { ...process.env, MANDATE_DATA_DIR: h.dataDir, MANDATE_URL: h.url });
}

describe('the served log (C2SP tlog-checkpoint, tlog-tiles)', () => {
  it('publishes a checkpoint signed by the key at /audit/key, over every event recorded', async () => {
    const head = await signedHead();
    const events = (await h.api('GET', '/api/v1/audit/events?limit=1000')).body.events as { seq: number }[];
    assert.ok(events.length >= 8, `${events.length} events`);
    assert.equal(head.size, events.length);
    assert.equal(head.origin, 'mandate.local/audit');
    assert.equal((await readFile(join(h.dataDir, 'audit.vkey'), 'utf8')).trim(), (await text('/audit/key')).body.trim(), 'the key auditors get from the data directory is the one served');
  });

  it('serves the entries (admin only) and the hash tiles, which agree with each other and with the checkpoint', async () => {
    const head = await signedHead();
    const path = `tile/entries/000.p/${head.size}`;
    assert.equal((await bytes(`/audit/${path}`)).status, 401, 'entries need the admin credential');
    const bundle = await bytes(`/audit/${path}`, h.adminToken);
    assert.equal(bundle.status, 200);
    const tile = await bytes(`/audit/tile/0/000.p/${head.size}`);
    assert.equal(tile.status, 200);
    const entries = verifyEntryBundle(bundle.body, tile.body);
    assert.equal(hex(merkleTreeHash(tileHashes(tile.body))), hex(head.rootHash), 'the leaves of the tile hash to the signed root');
    const first = JSON.parse(Buffer.from(entries[0] as Uint8Array).toString('utf8')) as { seq: number; kind: string };
    assert.equal(first.seq, 1);
    assert.equal((await bytes(`/audit/tile/0/000.p/${head.size + 50}`)).status, 404, 'a tile wider than the log does not exist yet');
    assert.equal((await bytes('/audit/tile/0/000')).status, 404, 'nor a full tile of a log under 256 events');
    assert.equal((await bytes('/audit/tile/0/x000/001')).status, 400, 'a path outside the one canonical form is refused');
  });

  it('answers inclusion proofs that verify against the signed root', async () => {
    const head = await signedHead();
    for (const seq of [1, 3, head.size]) {
      const proof = (await h.api('GET', `/api/v1/audit/proofs/inclusion?seq=${seq}`)).body as { leaf_hash: string; hashes: string[]; tree_size: number; checkpoint: string };
      assert.equal(proof.tree_size, head.size);
      const event = (await h.api('GET', `/api/v1/audit/events/${seq}`)).body as { hash: string };
      assert.equal(hex(b64(proof.leaf_hash)), event.hash);
      verifyInclusion({ leafIndex: seq - 1, treeSize: head.size, leafHash: b64(proof.leaf_hash), proof: proof.hashes.map(b64), rootHash: head.rootHash });
    }
    assert.equal((await h.api('GET', '/api/v1/audit/proofs/inclusion?seq=100000')).status, 404);
    assert.equal((await h.api('GET', '/api/v1/audit/proofs/inclusion?seq=1', { token: null })).status, 401);
  });

  it('answers consistency proofs between two signed checkpoints as the log grows', async () => {
    const old = await signedHead();
    const answer = await exchange(h, s, { resource: `${h.url}/mcp/everything` });
    const client = await connectToGateway(`${h.url}/mcp/everything`, String(answer.body.access_token), s.key, 'ledger');
    await client.callTool({ name: 'echo', arguments: { message: 'later' } });
    await client.close();
    await h.app.checkpoints.checkpoint();
    const head = await signedHead();
    assert.ok(head.size > old.size);
    const proof = (await h.api('GET', `/api/v1/audit/proofs/consistency?from=${old.size}&to=${head.size}`)).body as { hashes: string[]; checkpoints: { old: string; new: string } };
    verifyConsistency({ oldSize: old.size, newSize: head.size, proof: proof.hashes.map(b64), oldRoot: old.rootHash, newRoot: head.rootHash });
    assert.ok(proof.checkpoints.old && proof.checkpoints.new, 'both sizes were signed');
    assert.equal((await h.api('GET', `/api/v1/audit/proofs/consistency?from=0&to=${head.size}`)).body.code, 'proof_sizes_invalid');
  });

  it('leaves each event its leaf hash: the entry with its seq, hashed as RFC 9162 says', async () => {
    const head = await signedHead();
    const bundle = await bytes(`/audit/tile/entries/000.p/${head.size}`, h.adminToken);
    const tile = await bytes(`/audit/tile/0/000.p/${head.size}`);
    const entries = verifyEntryBundle(bundle.body, tile.body).map((e) => Buffer.from(e).toString('utf8'));
    const events = (await h.api('GET', '/api/v1/audit/events?limit=1000')).body.events as { seq: number; hash: string }[];
    assert.deepEqual(events.slice(0, head.size).map((e) => e.hash), entries.map((e) => entryLeafHash(e).toString('hex')));
  });
});

describe('token events', () => {
  it('records each task token issued and each refused, with who asked for what', async () => {
    type Event = { seq: number; kind: string; decision: string; reason: string | null; agents: string[]; mandate: string | null; person: string | null; server: string };
    const last = ((await h.api('GET', '/api/v1/audit/events?limit=1')).body.events as Event[])[0]?.seq ?? 0;
    const issued = await exchange(h, s, { resource: `${h.url}/mcp/everything` });
    assert.equal(issued.status, 200);
    const refused = await exchange(h, s, { resource: `${h.url}/mcp/elsewhere` });
    assert.equal(refused.status, 400);
    const events = ((await h.api('GET', `/api/v1/audit/events?after=${last}`)).body.events as Event[]).filter((e) => e.kind === 'token');
    assert.deepEqual(events.map((e) => [e.decision, e.reason, e.agents, e.mandate, e.person, e.server]), [
      ['allow', null, [s.spiffeId], s.mandateId, 'alice', 'everything'],
      ['deny', String(refused.body.mandate_error), [s.spiffeId], null, null, ''],
    ]);
  });
});

describe('mandate audit verify | export | proof | explain', () => {
  it('verifies the local log offline against the key', async () => {
    await h.app.checkpoints.checkpoint();
    const run = await cli(['audit', 'verify']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /ok: every event hashes into the tree; every checkpoint is signed/);
    assert.match(run.stdout, /consistency proofs between successive checkpoints verify/);
  });

  it('exports the ledger to a file that verifies on its own, and refuses another key', async () => {
    const file = join(h.dataDir, 'export.jsonl');
    const exported = await cli(['audit', 'export', '--out', file]);
    assert.equal(exported.code, 0, exported.stderr);
    const lines = (await readFile(file, 'utf8')).trim().split('\n');
    assert.equal(JSON.parse(lines[0] as string).format, 'mandate-audit-ledger/1');
    const verified = await cli(['audit', 'verify', '--file', file, '--key-file', join(h.dataDir, 'audit.vkey')]);
    assert.equal(verified.code, 0, verified.stderr);
    assert.match(verified.stdout, /ok: the checkpoints are all roots of prefixes/);
    const other = await cli(['audit', 'verify', '--file', file, '--key', 'mandate.local/audit+00000000+AQ' + 'A'.repeat(42) + '=']);
    assert.notEqual(other.code, 0);
  });

  it('exports OCSF records, one per event: API Activity for calls, Authentication for tokens issued and refused', async () => {
    const file = join(h.dataDir, 'ocsf.jsonl');
    const run = await cli(['audit', 'export', '--format', 'ocsf', '--out', file]);
    assert.equal(run.code, 0, run.stderr);
    const records = (await readFile(file, 'utf8')).trim().split('\n').map((line) => JSON.parse(line) as { class_uid: number; metadata: { uid: string; log_name: string }; status_detail?: string });
    const events = (await h.api('GET', '/api/v1/audit/events?limit=1000')).body.events as { seq: number; kind: string }[];
    assert.deepEqual(records.map((r) => r.metadata.uid), events.map((e) => String(e.seq)));
    assert.deepEqual(records.map((r) => r.class_uid), events.map((e) => (e.kind === 'authentication' || e.kind === 'token' ? 3002 : 6003)));
    assert.ok(records.some((r) => r.class_uid === 3002 && r.status_detail === 'token_missing'), 'the refused request, with its reason');
    assert.ok(records.some((r) => r.class_uid === 3002 && (r as { activity_id?: number }).activity_id === 4 && r.status_detail === undefined), 'the task token issued at the token endpoint');
    assert.equal(records[0]?.metadata.log_name, 'mandate.local/audit');
    assert.match(run.stdout, new RegExp(`wrote ${events.length} events as OCSF records`));
  });

  it('proves one event and a consistency, checked against the signed checkpoints', async () => {
    const proof = await cli(['audit', 'proof', '2']);
    assert.equal(proof.code, 0, proof.stderr);
    assert.match(proof.stdout, /event 2: in the log: its inclusion proof \(\d+ hashes\) leads to the root of the checkpoint of size \d+, signed by mandate\.local\/audit/);
    const sizes = ((await h.api('GET', '/api/v1/audit/checkpoints')).body.checkpoints as { size: number }[]).map((c) => c.size).filter((n) => n > 0);
    const consistency = await cli(['audit', 'proof', '--from', String(sizes[0]), '--to', String(sizes[sizes.length - 1]), '--json']);
    assert.equal(consistency.code, 0, consistency.stderr);
    assert.equal(JSON.parse(consistency.stdout).verified, true);
  });

  it('explains an allowed call: who asked, which agent, what, which policies, the outcome and the proof', async () => {
    const events = (await h.api('GET', '/api/v1/audit/events?limit=1000')).body.events as { seq: number; kind: string; decision: string; tool: string }[];
    const decision = events.find((e) => e.kind === 'decision' && e.decision === 'allow' && e.tool === 'echo') as { seq: number };
    const run = await cli(['audit', 'explain', String(decision.seq)]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /person {3}alice/);
    assert.match(run.stdout, /mandate {2}mnd_[\w-]+, for "test task"/);
    assert.match(run.stdout, new RegExp(`actor {4}.*\\(${s.spiffeId.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}\\)`));
    assert.match(run.stdout, /tools\/call everything\/echo/);
    assert.match(run.stdout, /arguments digest {2}sha256:[0-9a-f]{64}/);
    assert.match(run.stdout, /allow, decision #\d+/);
    assert.match(run.stdout, /determining policies {2}\S+/);
    assert.match(run.stdout, /policy set {2}sha256:[0-9a-f]{64}/);
    assert.match(run.stdout, /ok in [\d.]+ ms, result #\d+/);
    assert.match(run.stdout, /✓ in the log/);
  });

  it('explains a denied call as refused, naming the reason', async () => {
    const events = (await h.api('GET', '/api/v1/audit/events?limit=1000')).body.events as { seq: number; kind: string; decision: string; tool: string }[];
    const denied = events.find((e) => e.kind === 'decision' && e.decision === 'deny') as { seq: number };
    const run = await cli(['audit', 'explain', String(denied.seq)]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /deny \(\w+\)/);
    assert.match(run.stdout, /nothing: the call was refused and never reached the server/);
    const missing = await cli(['audit', 'explain', '999999']);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /there is no audit event 999999/);
  });
});
