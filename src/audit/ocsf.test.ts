import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { receiptEvent } from '../credentials/postgres-leases.ts';
import { MandateError } from '../errors.ts';
import type { StoredAuditEvent } from './event.ts';
import { ocsfJson, ocsfLine, ocsfLines, toOcsf, writeOcsf, type OcsfApiActivity, type OcsfAuthentication, type OcsfRecord } from './ocsf.ts';

// The enum values these records may carry, copied here from OCSF 1.9.0 itself
// (https://schema.ocsf.io/1.9.0/, github.com/ocsf/ocsf-schema tag v1.9.0) and not
// from ocsf-schema.ts, so a wrong number there fails here.
const SCHEMA = {
  // events/application/api_activity.json (+ base_event 0, 99); events/iam/authentication.json
  activities: { 6003: { 0: 'Unknown', 1: 'Create', 2: 'Read', 3: 'Update', 4: 'Delete', 99: 'Other' }, 3002: { 1: 'Logon', 2: 'Logoff', 99: 'Other' } },
  classes: { 6003: { name: 'API Activity', category: 6 }, 3002: { name: 'Authentication', category: 3 } },
  categories: { 3: 'Identity & Access Management', 6: 'Application Activity' },
  // dictionary.json
  severity: { 0: 'Unknown', 1: 'Informational', 2: 'Low', 3: 'Medium', 4: 'High', 5: 'Critical', 6: 'Fatal', 99: 'Other' },
  status: { 0: 'Unknown', 1: 'Success', 2: 'Failure', 99: 'Other' },
  disposition: { 1: 'Allowed', 2: 'Blocked', 26: 'Unauthorized', 27: 'Error' },
  authProtocol: { 6: 'OAUTH 2.0' },
  // profiles/security_control.json
  action: { 0: 'Unknown', 1: 'Allowed', 2: 'Denied', 3: 'Observed', 4: 'Modified', 99: 'Other' },
  // objects/user.json
  userType: { 0: 'Unknown', 1: 'User', 2: 'Admin', 3: 'System', 4: 'Service', 99: 'Other' },
} as const;

const OPTIONS = { productVersion: '0.1.0', origin: 'audit.example.com/mandate' };
const AGENT = 'spiffe://example.org/agent/agt_reader';
const PARENT = 'spiffe://example.org/agent/agt_planner';
const FAKE_KEY = 'AKIAZZZZFAKE0SECRET0KEY0NEVER0LEAKS';

const base: StoredAuditEvent = {
  kind: 'decision', time: 1_767_225_600_123, server: 'fs', person: 'alice', agents: [AGENT, PARENT], mandate: 'mnd_tidy', purpose: 'tidy the reports folder',
  method: 'tools/call', tool: 'read_file', argumentsDigest: 'sha256:1f2e', decision: 'allow', reason: null, policies: ['grant-scope'],
  policySetHash: 'sha256:policyset', outcome: null, latencyMs: null, seq: 41, hash: 'ab'.repeat(32),
};

const event = (fields: Partial<StoredAuditEvent> & Record<string, unknown>): StoredAuditEvent => ({ ...base, ...fields }) as StoredAuditEvent;

const EVENTS: Record<string, StoredAuditEvent> = {
  allowed: base,
  denied: event({ seq: 42, decision: 'deny', reason: 'tool_outside_scope', outcome: 'denied', policies: [] }),
  forbidden: event({ seq: 43, decision: 'deny', reason: 'forbidden_by_policy', outcome: 'denied', policies: ['no-secrets'] }),
  result: event({ seq: 44, kind: 'result', outcome: 'ok', latencyMs: 12.6, policies: [], policySetHash: null }),
  failedResult: event({ seq: 45, kind: 'result', outcome: 'error', latencyMs: 3.2, policies: [], policySetHash: null }),
  resourceRead: event({ seq: 46, method: 'resources/read', tool: 'file:///reports/q3.md' }),
  listing: event({ seq: 47, method: 'tools/list', tool: null, argumentsDigest: null }),
  tokenRefused: event({ seq: 48, kind: 'authentication', decision: 'deny', reason: 'token_expired', outcome: 'denied', method: null, tool: null, argumentsDigest: null, purpose: null, policies: [], policySetHash: null }),
  tokenMissing: event({ seq: 49, kind: 'authentication', person: null, agents: [], mandate: null, decision: 'deny', reason: 'token_missing', outcome: 'denied', method: null, tool: null, argumentsDigest: null, purpose: null, policies: [], policySetHash: null }),
  personEvaluation: event({ seq: 50, kind: 'evaluation', server: '', agents: [], mandate: null, purpose: null, method: 'tools/call', tool: null, caller: 'person alice', subject: 'Agent::"agt_reader"', resource: 'Tool::"fs/read_file"' }),
  adminEvaluation: event({ seq: 51, kind: 'evaluation', server: '', person: null, agents: [], mandate: null, purpose: null, method: 'tools/call', tool: null, decision: 'deny', reason: 'tool_outside_scope', outcome: 'denied', policies: [], caller: 'admin', subject: 'Agent::"agt_reader"', resource: 'Tool::"fs/write_file"' }),
  agentEvaluation: event({ seq: 52, kind: 'evaluation', server: '', person: null, agents: [AGENT], mandate: null, purpose: null, method: 'tools/call', tool: null, caller: `agent ${AGENT}`, subject: 'Agent::"agt_reader"', resource: 'Tool::"fs/read_file"' }),
};

const isInteger = (value: unknown): boolean => typeof value === 'number' && Number.isInteger(value);

/** The attributes OCSF 1.9.0 requires of every record and of its class, with their types and enum captions. */
function assertValid(record: OcsfRecord, name: string): void {
  const r = record as unknown as Record<string, unknown> & OcsfRecord;
  for (const key of ['time', 'severity_id', 'type_uid', 'category_uid', 'class_uid', 'activity_id', 'status_id']) assert.ok(isInteger(r[key]), `${name}: ${key} is an integer`);
  const cls = SCHEMA.classes[record.class_uid];
  assert.ok(cls, `${name}: class ${record.class_uid}`);
  assert.equal(record.class_name, cls.name, name);
  assert.equal(record.category_uid, cls.category, name);
  assert.equal(record.category_name, SCHEMA.categories[cls.category], name);
  assert.equal(record.type_uid, record.class_uid * 100 + record.activity_id, `${name}: type_uid = class_uid × 100 + activity_id`);
  const activities: Record<number, string> = SCHEMA.activities[record.class_uid];
  assert.ok(activities[record.activity_id], `${name}: activity ${record.activity_id} is one of the class's`);
  assert.equal(record.type_name, `${cls.name}: ${activities[record.activity_id]}`, name);
  if (record.activity_id !== 99) assert.equal(record.activity_name, activities[record.activity_id], name);
  assert.equal(record.severity, (SCHEMA.severity as Record<number, string>)[record.severity_id], `${name}: severity caption`);
  assert.equal(record.status, (SCHEMA.status as Record<number, string>)[record.status_id], `${name}: status caption`);
  assert.equal(record.time_dt, new Date(record.time).toISOString());
  if (record.action_id !== undefined) assert.equal(record.action, (SCHEMA.action as Record<number, string>)[record.action_id], `${name}: action caption`);
  if (record.disposition_id !== undefined) assert.equal(record.disposition, (SCHEMA.disposition as Record<number, string>)[record.disposition_id], `${name}: disposition caption`);

  const { metadata } = record;
  assert.deepEqual(metadata.product, { name: 'Mandate', vendor_name: 'Mandate', version: '0.1.0' });
  assert.equal(metadata.version, '1.9.0');
  assert.equal(typeof metadata.uid, 'string');
  assert.ok(metadata.profiles.includes('ai_operation'));
  assert.equal(metadata.log_name, 'audit.example.com/mandate');

  const user = record.class_uid === 6003 ? record.actor.user : record.user;
  assert.ok(user.uid !== undefined || user.name !== undefined, `${name}: a user has a uid or a name`);
  const userType = (SCHEMA.userType as Record<number, string>)[user.type_id];
  assert.ok(userType, `${name}: user type ${user.type_id}`);
  if (user.type_id !== 99) assert.equal(user.type, userType, `${name}: user type caption`);
  if (record.class_uid === 6003) {
    assert.equal(typeof record.api.operation, 'string', `${name}: api.operation`);
    assert.equal(typeof record.api.request.uid, 'string', `${name}: api.request.uid`);
    const src = record.src_endpoint;
    assert.ok(src.uid !== undefined || src.name !== undefined || src.svc_name !== undefined, `${name}: src_endpoint has one of its identifying attributes`);
  } else {
    assert.ok(record.service.name !== undefined, `${name}: an authentication names its service`);
    assert.equal(record.auth_protocol, (SCHEMA.authProtocol as Record<number, string>)[record.auth_protocol_id]);
  }
}

describe('audit events as OCSF records', () => {
  it('maps every kind to its class, with the attributes the schema requires', () => {
    for (const [name, e] of Object.entries(EVENTS)) assertValid(toOcsf(e, OPTIONS), name);
    assert.equal(toOcsf(EVENTS.allowed!, OPTIONS).class_uid, 6003);
    assert.equal(toOcsf(EVENTS.result!, OPTIONS).class_uid, 6003);
    assert.equal(toOcsf(EVENTS.personEvaluation!, OPTIONS).class_uid, 6003);
    const auth = toOcsf(EVENTS.tokenRefused!, OPTIONS);
    assert.equal(auth.class_uid, 3002);
    assert.equal(auth.activity_id, 1);
    assert.equal(auth.type_uid, 300201);
  });

  it('chooses the API activity by method: tool calls and evaluations are Other, reads and listings Read', () => {
    const activity = (e: StoredAuditEvent) => [toOcsf(e, OPTIONS).activity_id, toOcsf(e, OPTIONS).activity_name];
    assert.deepEqual(activity(EVENTS.allowed!), [99, 'Call Tool']);
    assert.deepEqual(activity(EVENTS.resourceRead!), [2, 'Read']);
    assert.deepEqual(activity(EVENTS.listing!), [2, 'Read']);
    assert.deepEqual(activity(event({ method: 'prompts/get', tool: 'summarise' })), [2, 'Read']);
    assert.deepEqual(activity(EVENTS.personEvaluation!), [99, 'Evaluate']);
    assert.deepEqual(activity(event({ method: null })), [0, 'Unknown']);
    assert.equal(toOcsf(EVENTS.allowed!, OPTIONS).type_uid, 600399);
    assert.equal(toOcsf(EVENTS.resourceRead!, OPTIONS).type_uid, 600302);
  });

  it('puts the person, the agent chain, the mandate, the server, the tool and the policies where OCSF has them', () => {
    const r = toOcsf(EVENTS.allowed!, OPTIONS) as OcsfApiActivity;
    assert.deepEqual(r.actor, { user: { uid: 'alice', type_id: 1, type: 'User' } });
    assert.deepEqual(r.ai_agent, { uid: AGENT });
    assert.deepEqual(r.delegation, { uid: 'mnd_tidy' });
    assert.deepEqual(r.unmapped.agents, [AGENT, PARENT]);
    assert.equal(r.metadata.correlation_uid, 'mnd_tidy');
    assert.deepEqual(r.api, { operation: 'tools/call', service: { name: 'fs' }, request: { uid: '41' } });
    assert.deepEqual(r.src_endpoint, { uid: AGENT });
    assert.deepEqual(r.dst_endpoint, { svc_name: 'fs' });
    assert.deepEqual(r.resources, [{ uid: 'fs/read_file', name: 'read_file', type: 'tool' }]);
    assert.deepEqual([r.action_id, r.disposition_id], [1, 1]);
    assert.deepEqual(r.authorizations, [{ decision: 'allow', policy: { uid: 'grant-scope', is_applied: true } }]);
    assert.deepEqual(r.policy, { uid: 'sha256:policyset', name: 'Mandate policy set' });
    assert.deepEqual([r.metadata.uid, r.metadata.sequence], ['41', 41]);
    assert.deepEqual(r.unmapped, {
      kind: 'decision', leaf_hash: 'ab'.repeat(32), agents: [AGENT, PARENT], purpose: 'tidy the reports folder', arguments_digest: 'sha256:1f2e',
    });
    assert.deepEqual(r.metadata.profiles, ['ai_operation', 'datetime', 'security_control']);
  });

  it('puts a denial\'s reason in status_detail, and fails the status', () => {
    for (const name of ['denied', 'forbidden', 'tokenRefused', 'tokenMissing', 'adminEvaluation']) {
      const r = toOcsf(EVENTS[name]!, OPTIONS);
      const reason = EVENTS[name]!.reason;
      assert.equal(r.status_id, 2, name);
      assert.equal(r.status_detail, reason, name);
      assert.equal(r.action_id, 2, name);
    }
    const denied = toOcsf(EVENTS.denied!, OPTIONS) as OcsfApiActivity;
    assert.equal(denied.status_code, 'denied');
    assert.deepEqual(denied.api.response, { error: 'tool_outside_scope' });
    assert.deepEqual([denied.severity_id, denied.disposition_id], [3, 26]);
    assert.deepEqual(denied.authorizations, [{ decision: 'deny' }]);
    assert.equal(denied.message, 'denied tools/call read_file on fs (tool_outside_scope)');
    assert.equal(toOcsf(event({ decision: 'deny', reason: 'decision_failed', outcome: 'denied' }), OPTIONS).disposition_id, 27);
    assert.equal(toOcsf(EVENTS.tokenRefused!, OPTIONS).disposition_id, 2);
  });

  it('records a result\'s outcome and latency', () => {
    const ok = toOcsf(EVENTS.result!, OPTIONS) as OcsfApiActivity;
    assert.deepEqual([ok.status_id, ok.status_code, ok.status_detail, ok.duration, ok.severity_id], [1, 'ok', undefined, 13, 1]);
    assert.equal(ok.policy, undefined);
    const failed = toOcsf(EVENTS.failedResult!, OPTIONS) as OcsfApiActivity;
    assert.deepEqual([failed.status_id, failed.status_code, failed.status_detail, failed.duration, failed.severity_id], [2, 'error', 'upstream_error', 3, 2]);
    assert.deepEqual(failed.api.response, { error: 'upstream_error' });
  });

  it('maps a refused task token to Authentication, with whose it was when the token said', () => {
    const known = toOcsf(EVENTS.tokenRefused!, OPTIONS) as OcsfAuthentication;
    assert.deepEqual(known.user, { uid: 'alice', type_id: 1, type: 'User' });
    assert.deepEqual(known.service, { name: 'fs' });
    assert.deepEqual([known.auth_protocol_id, known.auth_protocol], [6, 'OAUTH 2.0']);
    assert.deepEqual([known.ai_agent, known.delegation, known.src_endpoint], [{ uid: AGENT }, { uid: 'mnd_tidy' }, { uid: AGENT }]);
    assert.equal(known.message, 'refused a task token at fs (token_expired)');
    const unknown = toOcsf(EVENTS.tokenMissing!, OPTIONS) as OcsfAuthentication;
    assert.deepEqual(unknown.user, { name: 'unknown', type_id: 0, type: 'Unknown' });
    assert.deepEqual([unknown.ai_agent, unknown.delegation, unknown.src_endpoint], [undefined, undefined, undefined]);
  });

  it('maps an AuthZEN evaluation with who asked and about what, never the properties', () => {
    const byPerson = toOcsf(EVENTS.personEvaluation!, OPTIONS) as OcsfApiActivity;
    assert.deepEqual(byPerson.actor.user, { uid: 'alice', type_id: 1, type: 'User' });
    assert.deepEqual(byPerson.src_endpoint, { name: 'person alice' });
    assert.deepEqual(byPerson.api, {
      operation: 'evaluation', service: { name: 'AuthZEN' },
      request: { uid: '50', data: { subject: 'Agent::"agt_reader"', action: { name: 'tools/call' }, resource: 'Tool::"fs/read_file"' } },
    });
    assert.deepEqual(byPerson.resources, [{ uid: 'Tool::"fs/read_file"', type: 'Tool' }]);
    assert.equal(byPerson.dst_endpoint, undefined);
    assert.equal(byPerson.unmapped.caller, 'person alice');
    assert.deepEqual((toOcsf(EVENTS.adminEvaluation!, OPTIONS) as OcsfApiActivity).actor.user, { name: 'admin', type_id: 2, type: 'Admin' });
    const byAgent = toOcsf(EVENTS.agentEvaluation!, OPTIONS) as OcsfApiActivity;
    assert.deepEqual(byAgent.actor.user, { uid: AGENT, type_id: 99, type: 'AI Agent' });
    assert.deepEqual(byAgent.ai_agent, { uid: AGENT });
  });

  it('gives the same record, and the same line, for the same event however its keys are ordered', () => {
    for (const [name, e] of Object.entries(EVENTS)) {
      assert.equal(JSON.stringify(toOcsf(e, OPTIONS)), JSON.stringify(toOcsf(structuredClone(e), OPTIONS)), name);
      const reversed = Object.fromEntries(Object.entries(e).reverse()) as StoredAuditEvent;
      assert.equal(ocsfLine(reversed, OPTIONS), ocsfLine(e, OPTIONS), name);
    }
  });

  it('leaks no secret: the replay record and any field it does not name stay out', () => {
    const withSecrets = event({
      seq: 60,
      request: {
        principal: { type: 'Agent', id: 'agt_reader' }, action: 'tools/call', resource: { type: 'Tool', id: 'fs/read_file' },
        context: { arguments: { path: '/reports', api_key: FAKE_KEY } }, entities: [{ uid: { type: 'Agent', id: 'agt_reader' }, attrs: { token: FAKE_KEY }, parents: [] }],
      },
      shadow: { decision: 'deny', policies: ['shadow-no-keys'], errors: [] },
      arguments: { path: '/reports', api_key: '[REDACTED:secret_field]' },
      secrets: ['secret_field'],
      rawArguments: { api_key: FAKE_KEY },
      token: FAKE_KEY,
    });
    const line = ocsfLine(withSecrets, OPTIONS);
    assert.ok(!line.includes(FAKE_KEY), 'the fake key appears nowhere in the OCSF JSON');
    assert.ok(!line.includes('"entities"') && !line.includes('"context"'), 'nothing of the Cedar request');
    const r = JSON.parse(line) as OcsfApiActivity;
    assert.deepEqual(r.api.request.data, { path: '/reports', api_key: '[REDACTED:secret_field]' }, 'the redacted copy is the request data');
    assert.deepEqual(r.unmapped.secret_kinds, ['secret_field']);
    assert.deepEqual(r.unmapped.shadow, { decision: 'deny', policies: ['shadow-no-keys'], errors: [] });
  });

  it('carries the approval and the credential lease by reference, when an event has them', () => {
    const r = toOcsf(event({ approval: 'apr_123', lease: 'lse_456', omitted: ['request'] }), OPTIONS);
    assert.equal(r.unmapped.approval_uid, 'apr_123');
    assert.equal(r.unmapped.credential_lease_uid, 'lse_456');
    assert.deepEqual(r.unmapped.omitted, ['request']);
    const odd = toOcsf({ ...base, approval: { secret: FAKE_KEY }, lease: 7, secrets: 'secret_field' } as unknown as StoredAuditEvent, OPTIONS);
    assert.deepEqual([odd.unmapped.approval_uid, odd.unmapped.credential_lease_uid, odd.unmapped.secret_kinds], [undefined, undefined, undefined], 'fields of an unexpected shape are left out');
  });

  it('maps each step of an approval to API Activity on the approval, with its digest and note', () => {
    const step = (method: string, fields: Record<string, unknown> = {}) => event({
      kind: 'approval', method, tool: 'write_file', decision: null, outcome: 'ok', policies: ['needs-owner'], policySetHash: null, approval: 'apr_1',
      actionDigest: 'sha256:action', caller: 'person bob', ...fields,
    });
    const records = {
      request: toOcsf(step('approval/request', { caller: `agent ${AGENT}`, arguments: { path: '/reports/q3.txt' } }), OPTIONS) as OcsfApiActivity,
      approve: toOcsf(step('approval/approve', { person: 'bob', note: 'looks right' }), OPTIONS) as OcsfApiActivity,
      refused: toOcsf(step('approval/approve', { person: 'mallory', caller: 'person mallory', outcome: 'denied', reason: 'approver_not_eligible' }), OPTIONS) as OcsfApiActivity,
      notify: toOcsf(step('approval/notify', { caller: 'system', outcome: 'error', reason: 'webhook_http_error', note: 'attempt 1 of 4: HTTP 500' }), OPTIONS) as OcsfApiActivity,
      use: toOcsf(step('approval/use', { caller: `agent ${AGENT}` }), OPTIONS) as OcsfApiActivity,
      expire: toOcsf(step('approval/expire', { caller: 'system' }), OPTIONS) as OcsfApiActivity,
    };
    for (const [name, r] of Object.entries(records)) assertValid(r, name);
    assert.deepEqual(Object.values(records).map((r) => [r.activity_id, r.activity_name]), [[1, 'Create'], [3, 'Update'], [3, 'Update'], [99, 'Notify'], [3, 'Update'], [3, 'Update']]);
    assert.deepEqual(records.approve.resources, [{ uid: 'apr_1', name: 'write_file', type: 'approval' }]);
    assert.equal(records.approve.api.operation, 'approval/approve');
    assert.deepEqual(records.approve.actor.user, { uid: 'bob', type_id: 1, type: 'User' });
    assert.deepEqual(records.approve.src_endpoint, { name: 'person bob' }, 'decided by the person, not through the agent');
    assert.deepEqual(records.request.src_endpoint, { uid: AGENT });
    const byAdmin = toOcsf(step('approval/deny', { person: null, caller: 'admin' }), OPTIONS) as OcsfApiActivity;
    assert.deepEqual([byAdmin.actor.user, byAdmin.src_endpoint], [{ name: 'admin', type_id: 2, type: 'Admin' }, { name: 'admin' }]);
    assert.deepEqual([records.approve.unmapped.approval_uid, records.approve.unmapped.action_digest, records.approve.unmapped.note], ['apr_1', 'sha256:action', 'looks right']);
    assert.equal(records.approve.message, 'person bob approved approval apr_1 of write_file on fs');
    assert.equal(records.approve.metadata.profiles.includes('security_control'), false, 'a step of an approval decides no call');
    assert.deepEqual(records.request.api.request.data, { path: '/reports/q3.txt' });
    assert.deepEqual([records.refused.status, records.refused.status_detail, records.refused.severity], ['Failure', 'approver_not_eligible', 'Medium']);
    assert.equal(records.refused.message, 'person mallory may not approve approval apr_1 of write_file on fs (approver_not_eligible)');
    assert.deepEqual([records.notify.status, records.notify.severity, records.notify.message], ['Failure', 'Low', 'could not notify of approval apr_1 of write_file on fs (webhook_http_error)']);
  });

  it('maps the revocation of a mandate\'s database role with its receipt, a failure when it could not be verified', () => {
    const receipt = {
      mandateId: 'mnd_tidy', role: 'mandate_3fa0c2', at: 1_767_225_600, sessionsTerminated: 1, roleExistedBefore: true, roleGoneAfter: true, remainingSessions: 0, verified: true,
      checks: ['revoked', 'pg_roles: no role mandate_3fa0c2 nor oid 16423'],
    };
    const stored = (fields: Parameters<typeof receiptEvent>[0], seq: number): StoredAuditEvent => ({ ...receiptEvent(fields), time: base.time, seq, hash: 'cd'.repeat(32) });
    const verified = toOcsf(stored(receipt, 60), OPTIONS) as OcsfApiActivity;
    const unverified = toOcsf(stored({ ...receipt, roleGoneAfter: false, verified: false, checks: ['revoked', 'pg_roles: role mandate_3fa0c2 still exists, login disabled'] }, 61), OPTIONS) as OcsfApiActivity;
    assertValid(verified, 'verified');
    assertValid(unverified, 'unverified');
    assert.deepEqual([verified.class_uid, verified.activity_id, verified.activity_name, verified.api.operation], [6003, 3, 'Update', 'credential/revoke']);
    assert.deepEqual(verified.resources, [{ uid: 'mandate_3fa0c2', name: 'postgres-role', type: 'database role' }]);
    assert.equal(verified.metadata.correlation_uid, 'mnd_tidy');
    assert.deepEqual([verified.status, verified.severity, verified.message], ['Success', 'Informational', 'revoked database role mandate_3fa0c2 of mandate mnd_tidy: verified gone']);
    assert.deepEqual(verified.unmapped.credential_receipt, {
      mandate_uid: 'mnd_tidy', role: 'mandate_3fa0c2', time: 1_767_225_600_000, verified: true, sessions_terminated: 1, role_existed_before: true, role_gone_after: true,
      remaining_sessions: 0, checks: ['revoked', 'pg_roles: no role mandate_3fa0c2 nor oid 16423'],
    });
    assert.equal(verified.unmapped.caller, 'system');
    assert.deepEqual([unverified.status, unverified.status_detail, unverified.severity], ['Failure', 'credential_revocation_unverified', 'Low']);
    assert.equal(unverified.message, 'revoked database role mandate_3fa0c2 of mandate mnd_tidy: not verified gone (credential_revocation_unverified)');
    const ended = toOcsf(event({
      seq: 62, kind: 'revocation', server: '', agents: [], method: 'mandate/revoke', tool: null, argumentsDigest: null, decision: null, policies: [], policySetHash: null,
      outcome: 'ok', reason: 'task cancelled', caller: 'person alice', subject: 'mandate mnd_tidy', mandates: ['mnd_tidy', 'mnd_child'],
    }), OPTIONS) as OcsfApiActivity;
    assertValid(ended, 'mandates ended');
    assert.deepEqual([ended.activity_id, ended.activity_name, ended.api.operation], [3, 'Update', 'mandate/revoke']);
  });

  it('writes JSON lines, one record a line, in order', () => {
    const events = Object.values(EVENTS);
    const text = ocsfLines(events, OPTIONS);
    assert.ok(text.endsWith('\n'));
    const lines = text.slice(0, -1).split('\n');
    assert.equal(lines.length, events.length);
    assert.deepEqual(lines.map((l) => (JSON.parse(l) as OcsfRecord).metadata.sequence), events.map((e) => e.seq));
    assert.equal(ocsfLines([], OPTIONS), '');
    assert.equal(toOcsf(base, { productVersion: '0.1.0' }).metadata.log_name, 'mandate-audit');
  });

  it('streams records to a writer, waiting for it, and counts them', async () => {
    async function* pages(): AsyncIterable<StoredAuditEvent> {
      yield EVENTS.allowed!;
      await new Promise((resolve) => setImmediate(resolve));
      yield EVENTS.result!;
    }
    const written: string[] = [];
    const count = await writeOcsf(pages(), OPTIONS, async (json) => {
      await new Promise((resolve) => setImmediate(resolve));
      written.push(json);
    });
    assert.equal(count, 2);
    assert.deepEqual(written, [ocsfJson(EVENTS.allowed!, OPTIONS), ocsfJson(EVENTS.result!, OPTIONS)]);
    assert.equal(`${written[0]}\n`, ocsfLine(EVENTS.allowed!, OPTIONS));
    assert.equal(await writeOcsf([EVENTS.denied!], OPTIONS, (json) => void written.push(json)), 1);
  });

  it('refuses an event of a kind it has no mapping for, naming it', () => {
    assert.throws(() => toOcsf(event({ kind: 'checkpoint' as StoredAuditEvent['kind'] }), OPTIONS), (error: unknown) =>
      error instanceof MandateError && error.code === 'audit_event_unmappable' && error.message === 'audit event 41 is of kind "checkpoint", which has no OCSF mapping');
  });
});
