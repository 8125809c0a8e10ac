// Approvals through the control plane and the CLI, on a real Mandate, created through
// the service as the gateway creates them: the approver kinds (owner, sponsor,
// initiator, group member) and who is refused (an outsider, an agent, the admin
// approving); one use of the exact call, within the window; "for N minutes" within its
// caps; denied and expired are final; the signed webhook, checked here by recomputing
// its HMAC, and a failing one that blocks nothing; every step in the audit log. Also
// the group directory and agent sponsors the approver kinds rest on.
import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { ApproverSpec } from '../src/approvals/types.ts';
import { argumentsDigest } from '../src/approvals/types.ts';
import { generateAgentKey } from '../src/client/agent-key.ts';
import { loadConfig } from '../src/config.ts';
import { MandateError } from '../src/errors.ts';
import { nowSeconds } from '../src/lib/clock.ts';
import { startMandate, type Harness } from './harness.ts';
import { runMandate, type CliRun } from './fixtures/cli.ts';

function cli(h: Harness, args: string[], token = h.adminToken): Promise<CliRun> {
  return runMandate(args, { ...process.env, MANDATE_URL: h.url, MANDATE_TOKEN: token, MANDATE_DATA_DIR: h.dataDir });
}

const json = <T = Record<string, unknown>>(answer: { code: number; stdout: string; stderr: string }): T => {
  assert.equal(answer.code, 0, answer.stderr);
  return JSON.parse(answer.stdout) as T;
};

describe('groups and sponsors', () => {
  let h: Harness;
  before(async () => {
    h = await startMandate();
    for (const id of ['alice', 'sam', 'olga', 'oscar']) assert.equal((await h.api('POST', '/api/v1/users', { body: { id } })).status, 201);
  });
  after(() => h.close());

  it('keeps groups of people: add, list, add and remove members, through REST and the CLI', async () => {
    const created = await h.api('POST', '/api/v1/groups', { body: { name: 'ops', members: ['olga', 'alice'] } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.deepEqual([created.body.name, created.body.members], ['ops', ['alice', 'olga']]);
    assert.equal((await h.api('POST', '/api/v1/groups', { body: { name: 'ops' } })).body.code, 'group_exists');
    assert.equal((await h.api('POST', '/api/v1/groups', { body: { name: 'Bad Name' } })).body.code, 'invalid_group_name');
    assert.equal((await h.api('POST', '/api/v1/groups', { body: { name: 'x', members: ['nobody'] } })).body.code, 'person_not_found');

    const added = json<{ name: string; members: string[] }>(await cli(h, ['group', 'add', 'finance', '--member', 'sam', '--member', 'oscar', '--json']));
    assert.deepEqual(added.members, ['oscar', 'sam']);
    assert.deepEqual(json<{ members: string[] }>(await cli(h, ['group', 'add-member', 'ops', 'oscar', '--json'])).members, ['alice', 'olga', 'oscar']);
    assert.deepEqual(json<{ members: string[] }>(await cli(h, ['group', 'remove-member', 'ops', 'alice', '--json'])).members, ['olga', 'oscar']);
    const refused = await cli(h, ['group', 'remove-member', 'ops', 'alice']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /alice is not a member of group ops \(member_not_found\)/);
    const listed = json<{ groups: Array<{ name: string; members: string[] }> }>(await cli(h, ['group', 'list', '--json']));
    assert.deepEqual(listed.groups.map((g) => [g.name, g.members]), [['finance', ['oscar', 'sam']], ['ops', ['olga', 'oscar']]]);
    const human = await cli(h, ['group', 'list']);
    assert.match(human.stdout, /^NAME\s+MEMBERS\s+CREATED_AT$/m);
    assert.match(human.stdout, /^ops\s+olga,oscar\s/m);

    // Only the admin keeps the directory.
    const person = String((await h.api('POST', '/api/v1/users/olga/login')).body.token);
    assert.equal((await h.api('PUT', '/api/v1/groups/ops/members/olga', { token: person })).body.code, 'admin_required');
    assert.equal((await h.api('GET', '/api/v1/groups', { token: person })).status, 403);
  });

  it('gives an agent a sponsor, who must be a known, active person', async () => {
    const added = json<{ agent: Record<string, unknown> }>(await cli(h, ['agent', 'add', 'sponsored-bot', '--owner', 'alice', '--purpose', 'reports', '--sponsor', 'sam', '--json']));
    assert.equal(added.agent.sponsor, 'sam');
    assert.equal((await h.api('GET', `/api/v1/agents/${String(added.agent.id)}`)).body.sponsor, 'sam');
    const plain = await h.api('POST', '/api/v1/agents', { body: { name: 'plain-bot', owner: 'alice', purpose: 'reports' } });
    assert.equal((plain.body.agent as Record<string, unknown>).sponsor, null);
    assert.equal((await h.api('POST', '/api/v1/agents', { body: { name: 'b2', owner: 'alice', purpose: 'x', sponsor: 'nobody' } })).body.code, 'sponsor_not_found');
    await h.api('POST', '/api/v1/users/oscar/deactivate');
    assert.equal((await h.api('POST', '/api/v1/agents', { body: { name: 'b3', owner: 'alice', purpose: 'x', sponsor: 'oscar' } })).body.code, 'sponsor_inactive');
  });
});

const SECRET = 'whsec_' + Buffer.from('a webhook secret of thirty-two b').toString('base64');
const FAKE_KEY = 'sk_live_51HxApprovalPreviewNeverLeaks0000';

interface Delivery { headers: IncomingHttpHeaders; body: string }

/**
 * A webhook receiver on loopback answering `status`; keeps what it was sent. While
 * `held`, it answers nothing until `release()` is called.
 */
async function receiver(status: number): Promise<{ url: string; deliveries: Delivery[]; server: Server; held: boolean; release: () => void }> {
  const deliveries: Delivery[] = [];
  const waiting: Array<() => void> = [];
  const hook = {
    url: '', deliveries, server: null as unknown as Server, held: false,
    release: () => {
      hook.held = false;
      for (const answer of waiting.splice(0)) answer();
    },
  };
  hook.server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      deliveries.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      const answer = (): void => void res.writeHead(status).end();
      if (hook.held) waiting.push(answer);
      else answer();
    });
  });
  await new Promise<void>((resolve) => hook.server.listen(0, '127.0.0.1', resolve));
  hook.url = `http://127.0.0.1:${(hook.server.address() as AddressInfo).port}/hooks/mandate`;
  return hook;
}

/** The receiver's own check, written from the Standard Webhooks specification, sharing no code with Mandate. */
function signatureVerifies(d: Delivery, secret: string): boolean {
  const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
  const expected = createHmac('sha256', key).update(`${String(d.headers['webhook-id'])}.${String(d.headers['webhook-timestamp'])}.${d.body}`).digest();
  return String(d.headers['webhook-signature']).split(' ').some((entry) => {
    const given = Buffer.from(entry.replace(/^v1,/, ''), 'base64');
    return entry.startsWith('v1,') && given.length === expected.length && timingSafeEqual(given, expected);
  });
}

interface World { h: Harness; tokens: Record<string, string>; agentId: string; spiffeId: string; mandateId: string }

/** People, a group, an enrolled agent owned by alice and sponsored by sam, and alice's mandate for it. */
async function world(h: Harness): Promise<World> {
  const tokens: Record<string, string> = {};
  for (const id of ['alice', 'sam', 'ivan', 'olga', 'mallory']) {
    assert.equal((await h.api('POST', '/api/v1/users', { body: { id } })).status, 201);
    tokens[id] = String((await h.api('POST', `/api/v1/users/${id}/login`)).body.token);
  }
  assert.equal((await h.api('POST', '/api/v1/groups', { body: { name: 'ops', members: ['olga'] } })).status, 201);
  assert.equal((await h.api('POST', '/api/v1/servers', { body: { name: 'fs', command: 'true', tools: [{ name: 'write_file', effect: 'write' }] } })).status, 201);
  const added = await h.api('POST', '/api/v1/agents', { body: { name: 'report-bot', owner: 'alice', sponsor: 'sam', purpose: 'reports' } });
  const agent = added.body.agent as Record<string, unknown>;
  const key = generateAgentKey();
  assert.equal((await h.api('POST', '/api/v1/agents/enroll', { token: null, body: { enrollment_token: added.body.enrollment_token, jwk: key.publicJwk } })).status, 200);
  const granted = await h.api('POST', '/api/v1/mandates', { token: tokens.alice, body: { agent: agent.id, purpose: 'quarterly report', allow: ['fs/write_file'] } });
  assert.equal(granted.status, 201, JSON.stringify(granted.body));
  return { h, tokens, agentId: String(agent.id), spiffeId: String(agent.spiffe_id), mandateId: String((granted.body.mandate as Record<string, unknown>).id) };
}

let calls = 0;
/** Asks for an approval of a write_file call as the gateway does; each call a different action unless `args` is given. */
async function ask(w: World, approvers: ApproverSpec[][], options: { args?: Record<string, unknown>; initiator?: string; now?: number } = {}) {
  const args = options.args ?? { path: `/reports/q${++calls}.txt`, content: 'numbers' };
  return w.h.app.approvals.request({
    binding: { server: 'fs', method: 'tools/call', target: 'write_file', argumentsDigest: argumentsDigest(args), mandateId: w.mandateId, agent: w.spiffeId },
    initiator: options.initiator ?? 'alice', approvers, policies: ['writes-need-approval'], preview: args,
  }, options.now ?? nowSeconds());
}

const approve = (w: World, id: string, person: string | null, body: Record<string, unknown> = {}) =>
  w.h.api('POST', `/api/v1/approvals/${id}/approve`, { token: person === null ? w.h.adminToken : w.tokens[person] as string, body });
const deny = (w: World, id: string, person: string | null, body: Record<string, unknown> = {}) =>
  w.h.api('POST', `/api/v1/approvals/${id}/deny`, { token: person === null ? w.h.adminToken : w.tokens[person] as string, body });

const refusedWith = (answer: { status: number; body: Record<string, unknown> }, status: number, code: string): string => {
  assert.deepEqual([answer.status, answer.body.code], [status, code], JSON.stringify(answer.body));
  return String(answer.body.detail);
};

async function approvalEvents(h: Harness, id: string): Promise<Array<Record<string, unknown>>> {
  const events = (await h.api('GET', '/api/v1/audit/events?limit=1000')).body.events as Array<Record<string, unknown>>;
  return events.filter((e) => e.kind === 'approval' && e.approval === id);
}

describe('approvals', () => {
  let w: World;
  let hook: Awaited<ReturnType<typeof receiver>>;
  before(async () => {
    hook = await receiver(204);
    const h = await startMandate({ approvalWebhookUrl: hook.url, approvalWebhookSecret: SECRET, approvalWebhookBackoffMs: 20 });
    w = await world(h);
  });
  after(async () => {
    await w.h.close();
    await new Promise((resolve) => hook.server.close(resolve));
  });

  it('reuses the pending approval of the same call; other arguments ask anew', async () => {
    const args = { path: '/reports/same.txt' };
    const first = await ask(w, [['owner']], { args });
    const again = await ask(w, [['owner']], { args });
    const other = await ask(w, [['owner']], { args: { path: '/reports/other.txt' } });
    assert.deepEqual([first.created, again.created, other.created], [true, false, true]);
    assert.equal(again.approval.id, first.approval.id);
    assert.notEqual(other.approval.digest, first.approval.digest);
    assert.match(first.approval.id, /^apr_/);
    assert.equal(w.h.app.approvals.url(first.approval.id), `${w.h.url}/api/v1/approvals/${first.approval.id}`);
    const shown = await w.h.api('GET', `/api/v1/approvals/${first.approval.id}`);
    assert.deepEqual([shown.body.state, shown.body.url, shown.body.initiator, shown.body.approvers, shown.body.preview], ['pending', w.h.app.approvals.url(first.approval.id), 'alice', [['owner']], args]);
    assert.deepEqual(shown.body.binding, { server: 'fs', method: 'tools/call', target: 'write_file', arguments_digest: argumentsDigest(args), mandate_id: w.mandateId, agent: w.spiffeId });
  });

  it('lets the agent\'s owner, its sponsor, the initiator and a group\'s member decide, and refuses everyone else by name', async () => {
    const owner = (await ask(w, [['owner']])).approval;
    assert.match(refusedWith(await approve(w, owner.id, 'mallory'), 403, 'approver_not_eligible'), /mallory may not decide approval apr_\S+: it needs the agent's owner \(alice\)/);
    refusedWith(await approve(w, owner.id, 'sam'), 403, 'approver_not_eligible');
    const byOwner = await approve(w, owner.id, 'alice', { note: 'my agent, my report' });
    assert.deepEqual([byOwner.status, byOwner.body.state, byOwner.body.decided_by, byOwner.body.note], [200, 'approved', 'person alice', 'my agent, my report']);

    const sponsor = (await ask(w, [['sponsor']])).approval;
    assert.match(refusedWith(await approve(w, sponsor.id, 'alice'), 403, 'approver_not_eligible'), /the agent's sponsor \(sam\)/);
    assert.equal((await approve(w, sponsor.id, 'sam')).body.decided_by, 'person sam');

    const initiator = (await ask(w, [['initiator']], { initiator: 'ivan' })).approval;
    assert.match(refusedWith(await approve(w, initiator.id, 'alice'), 403, 'approver_not_eligible'), /the initiator \(ivan\)/);
    const byCli = json<{ state: string; decided_by: string }>(await cli(w.h, ['approvals', 'approve', initiator.id, '--json'], w.tokens.ivan));
    assert.deepEqual([byCli.state, byCli.decided_by], ['approved', 'person ivan']);

    const group = (await ask(w, [['group:ops']])).approval;
    assert.match(refusedWith(await approve(w, group.id, 'mallory'), 403, 'approver_not_eligible'), /a member of group ops/);
    assert.equal((await approve(w, group.id, 'olga')).body.decided_by, 'person olga');

    // Two policies asking: one person must satisfy both.
    const both = (await ask(w, [['owner'], ['group:ops', 'sponsor']])).approval;
    assert.match(refusedWith(await approve(w, both.id, 'alice'), 403, 'approver_not_eligible'), /it needs a member of group ops or the agent's sponsor \(sam\)$/);
    assert.match(refusedWith(await approve(w, both.id, 'olga'), 403, 'approver_not_eligible'), /it needs the agent's owner \(alice\)$/);
    assert.equal((await w.h.api('PUT', '/api/v1/groups/ops/members/alice')).status, 200);
    assert.equal((await approve(w, both.id, 'alice')).body.state, 'approved');
    assert.equal((await w.h.api('DELETE', '/api/v1/groups/ops/members/alice')).status, 200);
    const afterLeaving = (await ask(w, [['group:ops']])).approval;
    refusedWith(await approve(w, afterLeaving.id, 'alice'), 403, 'approver_not_eligible');
  });

  it('never lets an agent decide, and lets the admin deny but never approve', async () => {
    const approval = (await ask(w, [['owner']])).approval;
    const agent = await w.h.app.agents.get(w.agentId);
    for (const decide of [
      () => w.h.app.approvals.approve({ kind: 'agent', agent }, approval.id, {}, nowSeconds()),
      () => w.h.app.approvals.deny({ kind: 'agent', agent }, approval.id, {}, nowSeconds()),
    ]) {
      await assert.rejects(decide(), (error: unknown) => error instanceof MandateError && error.code === 'approver_not_eligible' && error.status === 403 && /an agent can never/.test(error.message));
    }
    assert.match(refusedWith(await approve(w, approval.id, null), 403, 'admin_cannot_approve'), /may deny an approval but never approve one: an approval is a person's yes/);
    const denied = await deny(w, approval.id, null, { note: 'not this quarter' });
    assert.deepEqual([denied.status, denied.body.state, denied.body.decided_by, denied.body.note], [200, 'denied', 'admin', 'not this quarter']);
  });

  it('lets the exact call pass once: a second use, another action and a use after the window are refused', async () => {
    const args = { path: '/reports/once.txt' };
    const { approval } = await ask(w, [['owner']], { args });
    assert.equal(await w.h.app.approvals.consume(approval.digest, nowSeconds()), null, 'nothing to use while pending');
    const approved = await approve(w, approval.id, 'alice');
    assert.equal(approved.body.max_uses, 1);
    const now = nowSeconds();
    assert.equal(Date.parse(String(approved.body.usable_until)) / 1000 - now <= 300, true, 'the window is 5 minutes');
    assert.equal(await w.h.app.approvals.consume((await ask(w, [['owner']], { args: { path: '/reports/swapped.txt' } })).approval.digest, now), null, 'other arguments have no approval');
    const used = await w.h.app.approvals.consume(approval.digest, now);
    assert.deepEqual([used?.id, used?.state, used?.uses], [approval.id, 'used', 1]);
    assert.equal(await w.h.app.approvals.consume(approval.digest, now), null, 'a second use');
    assert.equal((await w.h.api('GET', `/api/v1/approvals/${approval.id}`)).body.state, 'used');
    refusedWith(await deny(w, approval.id, 'alice'), 409, 'approval_not_pending');

    const late = (await ask(w, [['owner']])).approval;
    await approve(w, late.id, 'alice');
    assert.equal(await w.h.app.approvals.consume(late.digest, nowSeconds() + 301), null, 'after the window');
    const ended = await w.h.app.approvals.expire(nowSeconds() + 301);
    assert.ok(ended.some((a) => a.id === late.id && a.state === 'expired'));
    assert.equal(await w.h.app.approvals.consume(late.digest, nowSeconds()), null, 'expired stays expired');
    assert.equal((await w.h.api('GET', `/api/v1/approvals/${late.id}`)).body.state, 'expired');
  });

  it('keeps a denial and an expiry final', async () => {
    const denied = (await ask(w, [['owner']])).approval;
    assert.equal((await deny(w, denied.id, 'alice', { note: 'wrong folder' })).body.state, 'denied');
    assert.match(refusedWith(await approve(w, denied.id, 'alice'), 409, 'approval_not_pending'), /is already denied \(decided by person alice\): a decision is final/);
    assert.equal(await w.h.app.approvals.consume(denied.digest, nowSeconds()), null);

    // Asked for 16 minutes ago: nobody decided within 15.
    const stale = (await ask(w, [['owner']], { now: nowSeconds() - 16 * 60 })).approval;
    assert.equal((await w.h.api('GET', `/api/v1/approvals/${stale.id}`)).body.state, 'expired', 'expired before the sweep marks it');
    assert.match(refusedWith(await approve(w, stale.id, 'alice'), 409, 'approval_expired'), /expired at .* before anyone decided it/);
    refusedWith(await approve(w, stale.id, 'alice'), 409, 'approval_expired');
    refusedWith(await deny(w, stale.id, 'alice'), 409, 'approval_expired');
    const asked = await ask(w, [['owner']], { args: stale.preview as Record<string, unknown> });
    assert.equal(asked.created, true, 'the same call asks anew');
    assert.equal(asked.approval.digest, stale.digest);
  });

  it('approves identical calls for a while, at most max uses, within the caps', async () => {
    const { approval } = await ask(w, [['owner']]);
    refusedWith(await approve(w, approval.id, 'alice', { for: '2h' }), 400, 'approval_for_too_long');
    refusedWith(await approve(w, approval.id, 'alice', { for: '10m', max_uses: 101 }), 400, 'approval_max_uses_too_high');
    refusedWith(await approve(w, approval.id, 'alice', { for: 'soon' }), 400, 'invalid_duration');
    const repeated = json<Record<string, unknown>>(await cli(w.h, ['approvals', 'approve', approval.id, '--for', '10m', '--max-uses', '3', '--note', 'the whole batch', '--json'], w.tokens.alice));
    const now = nowSeconds();
    assert.deepEqual([repeated.state, repeated.max_uses, repeated.note], ['approved', 3, 'the whole batch']);
    assert.ok(Math.abs(Date.parse(String(repeated.repeat_until)) / 1000 - (now + 600)) <= 2);
    assert.equal((await w.h.app.approvals.consume(approval.digest, now))?.uses, 1);
    assert.equal((await w.h.app.approvals.consume(approval.digest, now + 400))?.uses, 2, 'past the 5-minute window, within the 10 minutes');
    const last = await w.h.app.approvals.consume(approval.digest, now + 500);
    assert.deepEqual([last?.uses, last?.state], [3, 'used']);
    assert.equal(await w.h.app.approvals.consume(approval.digest, now + 501), null, 'its uses are spent');

    const capped = (await ask(w, [['owner']])).approval;
    const defaulted = await approve(w, capped.id, 'alice', { for: 600 });
    assert.equal(defaulted.body.max_uses, 100, 'the cap of uses, when none is given');
    assert.equal(await w.h.app.approvals.consume(capped.digest, nowSeconds() + 601), null, 'after the period');
  });

  it('lists what a person may decide or asked for, and the admin everything', async () => {
    const mine = (await ask(w, [['group:ops']], { initiator: 'ivan' })).approval;
    const listed = async (person: string | null, query = '') => ((await w.h.api('GET', `/api/v1/approvals${query}`, { token: person === null ? w.h.adminToken : w.tokens[person] as string })).body.approvals as Array<{ id: string; approvers: string[][]; initiator: string; state: string }>);
    assert.deepEqual(await listed('mallory'), []);
    const olga = await listed('olga');
    assert.ok(olga.some((a) => a.id === mine.id));
    assert.ok(olga.every((a) => a.approvers.every((list) => list.includes('group:ops'))), 'olga sees only what her group may decide');
    assert.ok((await listed('ivan')).some((a) => a.id === mine.id), 'the initiator sees it');
    assert.ok(!(await listed('alice')).some((a) => a.id === mine.id), 'the owner does not: it needs the group');
    const pending = await listed(null, '?state=pending');
    assert.ok(pending.length > 0 && pending.every((a) => a.state === 'pending'));
    assert.ok(pending.some((a) => a.id === mine.id));
    assert.ok((await listed(null, `?mandate=${w.mandateId}&limit=2`)).length === 2);
    refusedWith(await w.h.api('GET', '/api/v1/approvals?state=maybe'), 400, 'invalid_query');
    refusedWith(await w.h.api('GET', `/api/v1/approvals/${mine.id}`, { token: w.tokens.mallory }), 404, 'approval_not_found');
    refusedWith(await w.h.api('GET', '/api/v1/approvals/apr_none'), 404, 'approval_not_found');

    const human = await cli(w.h, ['approvals', 'list', '--state', 'pending'], w.tokens.olga);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /^ID\s+STATE\s+CALL\s+AGENT\s+INITIATOR\s+APPROVERS\s+UNTIL$/m);
    assert.match(human.stdout, new RegExp(`^${mine.id}\\s+pending\\s+fs/write_file\\s+agent/report-bot\\s+ivan\\s+group:ops\\s`, 'm'));
    const shown = await cli(w.h, ['approvals', 'show', mine.id], w.tokens.olga);
    assert.match(shown.stdout, /^call\s+tools\/call fs\/write_file$/m);
    assert.match(shown.stdout, /^approvers\s+group:ops$/m);
    assert.match(shown.stdout, new RegExp(`^decide at\\s+${w.h.url}/approve/${mine.id}$`, 'm'), 'where to decide it in a browser');
    const refused = await cli(w.h, ['approvals', 'deny', mine.id], w.tokens.mallory);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /mallory may not decide approval .*\(approver_not_eligible\)/);
    const denied = await cli(w.h, ['approvals', 'deny', mine.id, '--note', 'no'], w.tokens.olga);
    assert.match(denied.stdout, /^state\s+denied$/m);
  });

  it('wakes a waiting call when the approval is decided, and answers a pending one at the timeout', async () => {
    const { approval } = await ask(w, [['owner']]);
    const started = Date.now();
    const waiting = w.h.app.approvals.waitForDecision(approval.id, 20_000);
    setTimeout(() => void approve(w, approval.id, 'alice'), 100);
    const decided = await waiting;
    assert.equal(decided.state, 'approved');
    assert.ok(Date.now() - started < 5000, 'woken by the decision, not the timeout');
    assert.equal((await w.h.app.approvals.waitForDecision(approval.id, 20_000)).state, 'approved', 'already decided: at once');

    const other = (await ask(w, [['owner']])).approval;
    const timedOut = await w.h.app.approvals.waitForDecision(other.id, 150);
    assert.equal(timedOut.state, 'pending');
    const abort = new AbortController();
    const aborted = w.h.app.approvals.waitForDecision(other.id, 20_000, abort.signal);
    abort.abort();
    assert.equal((await aborted).state, 'pending');
    await assert.rejects(w.h.app.approvals.waitForDecision('apr_none', 100), (error: unknown) => error instanceof MandateError && error.code === 'approval_not_found');
  });

  it('notifies the webhook of each request and decision, signed per Standard Webhooks, with the secrets of the arguments redacted', async () => {
    const args = { path: '/reports/signed.txt', api_key: FAKE_KEY };
    const { approval } = await ask(w, [['owner']], { args });
    await approve(w, approval.id, 'alice', { note: 'fine' });
    await w.h.app.approvals.notificationsIdle();
    const mine = hook.deliveries.filter((d) => (JSON.parse(d.body) as { data: { id: string } }).data.id === approval.id);
    assert.deepEqual(mine.map((d) => (JSON.parse(d.body) as { type: string }).type), ['approval.requested', 'approval.decided']);
    for (const d of mine) {
      assert.ok(signatureVerifies(d, SECRET), 'the HMAC the receiver computes matches');
      assert.equal(signatureVerifies(d, 'whsec_' + Buffer.from('another secret of thirty-two by').toString('base64')), false);
      assert.match(String(d.headers['webhook-id']), /^msg_/);
      assert.ok(Math.abs(Number(d.headers['webhook-timestamp']) - nowSeconds()) < 60);
      assert.equal(d.headers['content-type'], 'application/json');
      assert.ok(!d.body.includes(FAKE_KEY), 'no secret is sent');
    }
    assert.notEqual(mine[0]?.headers['webhook-id'], mine[1]?.headers['webhook-id']);
    const requested = JSON.parse(mine[0]?.body as string) as { timestamp: string; data: Record<string, unknown> };
    assert.deepEqual([requested.data.url, requested.data.state, requested.data.initiator, requested.data.approvers, requested.data.policies], [w.h.app.approvals.url(approval.id), 'pending', 'alice', [['owner']], ['writes-need-approval']]);
    assert.equal((requested.data.binding as Record<string, unknown>).agent, w.spiffeId);
    assert.deepEqual((requested.data.preview as Record<string, unknown>).path, '/reports/signed.txt');
    assert.match(String((requested.data.preview as Record<string, unknown>).api_key), /^\[REDACTED:/);
    const decided = JSON.parse(mine[1]?.body as string) as { data: Record<string, unknown> };
    assert.deepEqual([decided.data.state, decided.data.decided_by, decided.data.note], ['approved', 'person alice', 'fine']);
    const notified = (await approvalEvents(w.h, approval.id)).filter((e) => e.method === 'approval/notify');
    assert.deepEqual(notified.map((e) => [e.outcome, e.reason]), [['ok', null], ['ok', null]]);
    assert.match(String(notified[0]?.note), /^approval\.requested msg_\S+ attempt 1 of 4: HTTP 204$/);
  });

  it('records every step in the audit log, readable by audit explain', async () => {
    const { approval } = await ask(w, [['owner']]);
    await approve(w, approval.id, 'mallory');
    await approve(w, approval.id, 'alice', { note: 'go' });
    await w.h.app.approvals.consume(approval.digest, nowSeconds());
    await w.h.app.approvals.notificationsIdle();
    const events = await approvalEvents(w.h, approval.id);
    const steps = (list: unknown[][]) => list.map((step) => JSON.stringify(step)).sort();
    assert.deepEqual(steps(events.map((e) => [e.method, e.caller, e.person, e.outcome, e.reason])), steps([
      ['approval/request', `agent ${w.spiffeId}`, 'alice', 'ok', null],
      ['approval/notify', 'system', 'alice', 'ok', null],
      ['approval/approve', 'person mallory', 'mallory', 'denied', 'approver_not_eligible'],
      ['approval/approve', 'person alice', 'alice', 'ok', null],
      ['approval/use', `agent ${w.spiffeId}`, 'alice', 'ok', null],
      ['approval/notify', 'system', 'alice', 'ok', null],
    ]));
    assert.deepEqual(events.filter((e) => e.method !== 'approval/notify').map((e) => e.method), ['approval/request', 'approval/approve', 'approval/approve', 'approval/use'], 'in the order they happened');
    for (const e of events) {
      assert.deepEqual([e.action_digest, e.mandate, e.server, e.tool, e.agents, e.policies], [approval.digest, w.mandateId, 'fs', 'write_file', [w.spiffeId], ['writes-need-approval']]);
    }
    assert.equal(events.find((e) => e.method === 'approval/approve' && e.outcome === 'ok')?.note, 'go');
    assert.equal(events.find((e) => e.method === 'approval/use')?.note, 'use 1 of 1');
    const stale = (await ask(w, [['owner']], { now: nowSeconds() - 16 * 60 })).approval;
    await w.h.app.approvals.expire(nowSeconds());
    assert.deepEqual((await approvalEvents(w.h, stale.id)).filter((e) => e.method === 'approval/expire').map((e) => [e.caller, e.note]), [['system', 'not decided in time']]);

    const approveEvent = events.find((e) => e.method === 'approval/approve' && e.outcome === 'ok') as { seq: number };
    const explained = await cli(w.h, ['audit', 'explain', String(approveEvent.seq)]);
    assert.equal(explained.code, 0, explained.stderr);
    assert.match(explained.stdout, /approval\/approve by person alice: ok, "go"/);
    assert.match(explained.stdout, new RegExp(`bound to the action digest {2}${approval.digest}`));
    assert.match(explained.stdout, new RegExp(`approval {4}${approval.id}`));
    const tail = await cli(w.h, ['audit', 'tail', '--limit', '3']);
    assert.match(tail.stdout, /approval {8}system {2}fs\/write_file {2}approval\/expire ok apr_/);
  });
});

describe('a webhook that fails', () => {
  let w: World;
  let hook: Awaited<ReturnType<typeof receiver>>;
  before(async () => {
    hook = await receiver(500);
    w = await world(await startMandate({ approvalWebhookUrl: hook.url, approvalWebhookSecret: SECRET, approvalWebhookBackoffMs: 20 }));
  });
  after(async () => {
    await w.h.close();
    await new Promise((resolve) => hook.server.close(resolve));
  });

  it('blocks nothing: asking and deciding answer at once, the attempts are retried with backoff and each is recorded', async () => {
    // The receiver answers nothing at first: asking and deciding must not wait for it.
    hook.held = true;
    const { approval } = await ask(w, [['owner']]);
    const approved = await approve(w, approval.id, 'alice');
    assert.equal(approved.status, 200);
    assert.ok(await w.h.app.approvals.consume(approval.digest, nowSeconds()));
    // Waiting on the webhook would have meant each notification's four attempts first (each held to its 5 s timeout).
    assert.ok(hook.deliveries.length <= 2, `answered before any retry: ${hook.deliveries.length} deliveries so far`);
    hook.release();
    await w.h.app.approvals.notificationsIdle();
    assert.equal(hook.deliveries.length, 8, 'four attempts of each notification');
    const ids = new Set(hook.deliveries.map((d) => d.headers['webhook-id']));
    assert.equal(ids.size, 2, 'a retry keeps its message id');
    assert.ok(hook.deliveries.every((d) => signatureVerifies(d, SECRET)), 'every attempt is signed afresh');
    const notified = (await approvalEvents(w.h, approval.id)).filter((e) => e.method === 'approval/notify');
    assert.equal(notified.length, 8);
    assert.ok(notified.every((e) => e.outcome === 'error' && e.reason === 'webhook_http_error'));
    assert.deepEqual(notified.filter((e) => String(e.note).startsWith('approval.requested')).map((e) => String(e.note).replace(/msg_\S+ /, '')),
      ['approval.requested attempt 1 of 4: HTTP 500', 'approval.requested attempt 2 of 4: HTTP 500', 'approval.requested attempt 3 of 4: HTTP 500', 'approval.requested attempt 4 of 4: HTTP 500']);
    assert.equal((await w.h.api('GET', '/readyz', { token: null })).status, 200);
  });
});

describe('approval settings', () => {
  it('default to a 5-minute window, 15-minute expiry, 60-minute repeat cap, 100 uses and a 60-second wait', () => {
    const config = loadConfig({});
    assert.deepEqual([config.approvalWindow, config.approvalTtl, config.approvalMaxRepeat, config.approvalMaxUses, config.approvalWait, config.approvalWebhookUrl], [300, 900, 3600, 100, 60, null]);
    const set = loadConfig({ MANDATE_APPROVAL_WINDOW: '2m', MANDATE_APPROVAL_TTL: '1h', MANDATE_APPROVAL_MAX_REPEAT: '8h', MANDATE_APPROVAL_MAX_USES: '10', MANDATE_APPROVAL_WAIT: '0' });
    assert.deepEqual([set.approvalWindow, set.approvalTtl, set.approvalMaxRepeat, set.approvalMaxUses, set.approvalWait], [120, 3600, 28800, 10, 0]);
  });

  it('refuse a webhook without a secret, or with a secret or URL that is not one', () => {
    const refused = (env: Record<string, string>, message: RegExp) => assert.throws(() => loadConfig(env), (error: unknown) => error instanceof MandateError && error.code === 'invalid_config' && message.test(error.message));
    refused({ MANDATE_APPROVAL_WEBHOOK_URL: 'https://hooks.example/mandate' }, /needs MANDATE_APPROVAL_WEBHOOK_SECRET/);
    refused({ MANDATE_APPROVAL_WEBHOOK_URL: 'https://hooks.example/mandate', MANDATE_APPROVAL_WEBHOOK_SECRET: 'hunter2' }, /must be whsec_ followed by 24–64 random bytes/);
    refused({ MANDATE_APPROVAL_WEBHOOK_URL: 'https://hooks.example/mandate', MANDATE_APPROVAL_WEBHOOK_SECRET: `whsec_${Buffer.alloc(8).toString('base64')}` }, /24–64 random bytes/);
    refused({ MANDATE_APPROVAL_WEBHOOK_URL: 'ftp://hooks.example/', MANDATE_APPROVAL_WEBHOOK_SECRET: SECRET }, /must be an http\(s\) URL/);
    refused({ MANDATE_APPROVAL_WINDOW: '0' }, /MANDATE_APPROVAL_WINDOW must be at least 1s/);
    const config = loadConfig({ MANDATE_APPROVAL_WEBHOOK_URL: 'https://hooks.example/mandate', MANDATE_APPROVAL_WEBHOOK_SECRET: SECRET });
    assert.deepEqual([config.approvalWebhookUrl, config.approvalWebhookSecret], ['https://hooks.example/mandate', SECRET]);
  });
});
