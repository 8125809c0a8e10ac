// Approvals at the HTTP API proxy, end to end in front of a real HTTP API that records
// every request: a request an approval policy stops is read whole and refused at once
// (problem+json `approval_required`, with the approval to ask for) without reaching
// the upstream; once the agent's owner approves, exactly that request — method, path,
// query and body — passes once, with the body it was approved with. Another body, a
// second use or an outsider's yes change nothing; requests the policy does not stop
// still stream as before.
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { dpopProof } from '../src/client/agent-key.ts';
import { exchange, grantScenario, startMandate, type Harness, type Scenario } from './harness.ts';
import { startRecordingApi, type RecordingServer } from './fixtures/recording-http.ts';

const SECRET = 'api-key-0c4e9a1b7d3f5e2a6b8c';
const BODY_SECRET = 'ghp_Z1xY2wV3uT4sR5qP6oN7mL8kJ9iH0gF1eD2c';

const POLICY = `@id("posts-need-owner")
@approval("owner")
forbid (principal is Agent, action == Action::"http/request", resource is Endpoint)
when { context.method == "POST" };
`;

interface Event { seq: number; kind: string; method: string | null; decision: string | null; reason: string | null; approval?: string; arguments_digest: string | null }

let h: Harness;
let api: RecordingServer;
let who: { scenario: Scenario; token: string };

const lastSeq = async (): Promise<number> => ((await h.api('GET', '/api/v1/audit/events?limit=1')).body.events as Event[])[0]?.seq ?? 0;
const eventsAfter = async (seq: number): Promise<Event[]> => (await h.api('GET', `/api/v1/audit/events?after=${seq}&limit=500`)).body.events as Event[];

async function call(method: string, path: string, body?: string) {
  const url = `${h.url}/proxy/api${path}`;
  const response = await fetch(url, {
    method, body,
    headers: { authorization: `DPoP ${who.token}`, dpop: dpopProof(who.scenario.key, method, url.split('?')[0] as string, who.token), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
  });
  const text = await response.text();
  return { status: response.status, type: response.headers.get('content-type'), json: JSON.parse(text) as Record<string, unknown> };
}

before(async () => {
  h = await startMandate({ approvalWait: 0 });
  api = await startRecordingApi();
  assert.equal((await h.api('POST', '/api/v1/servers', { body: { name: 'api', url: `${api.url}/v2`, kind: 'http-api' } })).status, 201);
  assert.equal((await h.api('POST', '/api/v1/credentials', { body: { name: 'api-key', server: 'api', inject: { header: 'X-Api-Key' }, secret: SECRET } })).status, 201);
  assert.equal((await h.api('PUT', '/api/v1/policies/proxy-approvals.cedar', { body: { text: POLICY } })).status, 200);
  const scenario = await grantScenario(h, { allow: ['api/GET:/repos/*', 'api/POST:/repos/*/issues'] });
  const answer = await exchange(h, scenario, { resource: `${h.url}/proxy/api` });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  who = { scenario, token: String(answer.body.access_token) };
});
after(async () => {
  await h.close();
  await api.close();
});

describe('a proxied request that needs approval', () => {
  it('is refused at once with the approval to ask for; once approved, exactly that request passes once, with its body', async () => {
    const bodyA = JSON.stringify({ title: 'release', token: BODY_SECRET });
    const bodyB = JSON.stringify({ title: 'release', token: 'other' });
    const from = await lastSeq();
    const seen = api.received.length;

    const asked = await call('POST', '/repos/app/issues?label=ops', bodyA);
    assert.equal(asked.status, 403, JSON.stringify(asked.json));
    assert.match(String(asked.type), /^application\/problem\+json/);
    assert.equal(asked.json.code, 'approval_required');
    const id = String(asked.json.approval);
    assert.match(id, /^apr_/);
    assert.equal(asked.json.url, `${h.url}/api/v1/approvals/${id}`);
    assert.deepEqual([asked.json.approvers, asked.json.policies], [[['owner']], ['posts-need-owner']]);
    assert.ok(!Number.isNaN(Date.parse(String(asked.json.expires_at))));
    assert.equal((await call('POST', '/repos/app/issues?label=ops', bodyA)).json.approval, id, 'asking again finds the same pending approval');
    assert.equal(api.received.length, seen, 'nothing reached the upstream');

    const shown = (await h.api('GET', `/api/v1/approvals/${id}`)).body as { binding: Record<string, unknown>; preview: unknown };
    assert.deepEqual([shown.binding.method, shown.binding.target], ['http/request', 'POST /repos/app/issues']);
    assert.deepEqual(shown.preview, { query: { label: 'ops' }, body: { bytes: bodyA.length, content_type: 'application/json' } });

    assert.equal((await h.api('POST', '/api/v1/users', { body: { id: 'mallory' } })).status, 201);
    const outsider = String((await h.api('POST', '/api/v1/users/mallory/login')).body.token);
    assert.equal((await h.api('POST', `/api/v1/approvals/${id}/approve`, { token: outsider, body: {} })).status, 403, 'not the agent\'s owner');
    assert.equal((await h.api('POST', `/api/v1/approvals/${id}/approve`, { token: who.scenario.personToken, body: { note: 'ok' } })).status, 200);

    const other = await call('POST', '/repos/app/issues?label=ops', bodyB);
    assert.equal(other.json.code, 'approval_required');
    assert.notEqual(other.json.approval, id, 'another body is another request');
    const otherQuery = await call('POST', '/repos/app/issues?label=dev', bodyA);
    assert.notEqual(otherQuery.json.approval, id, 'another query is another request');
    assert.equal(api.received.length, seen);

    const passed = await call('POST', '/repos/app/issues?label=ops', bodyA);
    assert.equal(passed.status, 200, JSON.stringify(passed.json));
    assert.deepEqual(passed.json, { method: 'POST', path: '/v2/repos/app/issues', query: '?label=ops', body_bytes: bodyA.length });
    const forwarded = api.received.at(-1);
    assert.equal(forwarded?.body, bodyA);
    assert.equal(forwarded?.headers['x-api-key'], SECRET);
    assert.equal(forwarded?.headers['content-length'], String(bodyA.length));
    assert.equal(api.received.length, seen + 1);

    const again = await call('POST', '/repos/app/issues?label=ops', bodyA);
    assert.equal(again.json.code, 'approval_required');
    assert.notEqual(again.json.approval, id, 'used once');
    assert.equal(api.received.length, seen + 1);

    const got = await call('GET', '/repos/app');
    assert.equal(got.status, 200, JSON.stringify(got.json));
    assert.equal(api.received.length, seen + 2);

    const events = await eventsAfter(from);
    const decisions = events.filter((e) => e.kind === 'decision' && e.method === 'http/POST');
    assert.deepEqual(decisions.map((e) => [e.decision, e.reason, e.approval]), [
      ['deny', 'approval_required', id], ['deny', 'approval_required', id], ['deny', 'approval_required', other.json.approval],
      ['deny', 'approval_required', otherQuery.json.approval], ['allow', null, id], ['deny', 'approval_required', again.json.approval],
    ]);
    assert.equal(decisions[0]?.arguments_digest, shown.binding.arguments_digest, 'the decision records the digest the approval is bound to');
    assert.deepEqual(events.filter((e) => e.kind === 'approval' && e.approval === id && e.method !== 'approval/notify').map((e) => [e.method, e.reason]), [
      ['approval/request', null], ['approval/approve', 'approver_not_eligible'], ['approval/approve', null], ['approval/use', null],
    ]);
    assert.ok(!JSON.stringify(events).includes(BODY_SECRET), 'the body is never recorded');
    assert.equal(((await h.api('GET', `/api/v1/approvals/${id}`)).body as { state: string }).state, 'used');
  });

  it('is refused 413 when its body is too large to be read whole, without asking', async () => {
    const target = '/proxy/api/repos/app/issues';
    const { hostname, port } = new URL(h.url);
    const answer = await new Promise<{ status: number; json: Record<string, unknown> }>((resolve, reject) => {
      const req = httpRequest({
        hostname, port, path: target, method: 'POST',
        headers: { authorization: `DPoP ${who.token}`, dpop: dpopProof(who.scenario.key, 'POST', `${h.url}${target}`, who.token), 'content-type': 'application/json', 'content-length': String(64 * 1024 * 1024) },
      }, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (c: string) => { text += c; }).on('end', () => {
          req.destroy();
          resolve({ status: res.statusCode ?? 0, json: JSON.parse(text || '{}') as Record<string, unknown> });
        });
      });
      req.once('error', reject);
      req.write('{"title":');
    });
    assert.equal(answer.status, 413, JSON.stringify(answer.json));
    assert.equal(answer.json.code, 'body_too_large');
    assert.equal(answer.json.approval, undefined);
  });
});
