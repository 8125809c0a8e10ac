import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AuditEvent, StoredAuditEvent } from '../audit/event.ts';
import { MandateError } from '../errors.ts';
import { spanFromAuditEvents } from './audit-span.ts';
import { encodeSpan } from './otlp.ts';

const AGENT = 'spiffe://example.org/agent/agt_reader';
const FAKE_KEY = 'sk-live-FAKE0KEY0THAT0MUST0NOT0LEAK';
const T = 1_767_225_600_000;

const decision: StoredAuditEvent = {
  kind: 'decision', time: T + 2, server: 'fs', person: 'alice', agents: [AGENT, 'spiffe://example.org/agent/agt_planner'], mandate: 'mnd_tidy', purpose: 'tidy',
  method: 'tools/call', tool: 'read_file', argumentsDigest: 'sha256:1f2e', decision: 'allow', reason: null, policies: ['grant-scope'],
  policySetHash: 'sha256:set', outcome: null, latencyMs: null, seq: 41, hash: 'ab'.repeat(32),
};
const result: StoredAuditEvent = { ...decision, kind: 'result', time: T + 20, outcome: 'ok', latencyMs: 19.5, policies: [], policySetHash: null, seq: 42 };

describe('the span of a governed call', () => {
  it('is named and attributed after the MCP and GenAI conventions, with Mandate\'s own under mandate.*', () => {
    const span = spanFromAuditEvents(decision, result);
    assert.equal(span.name, 'tools/call read_file');
    assert.equal(span.kind, 'server');
    assert.equal(span.status, 'ok');
    assert.deepEqual([span.startMs, span.endMs], [T + 0.5, T + 20], 'from the request\'s arrival to its result');
    assert.deepEqual(span.attributes, {
      'mcp.method.name': 'tools/call',
      'gen_ai.operation.name': 'execute_tool',
      'gen_ai.tool.name': 'read_file',
      'error.type': null,
      'mandate.server': 'fs',
      'mandate.id': 'mnd_tidy',
      'mandate.person': 'alice',
      'mandate.agent': AGENT,
      'mandate.agent_chain': [AGENT, 'spiffe://example.org/agent/agt_planner'],
      'mandate.decision': 'allow',
      'mandate.reason': null,
      'mandate.policies': ['grant-scope'],
      'mandate.policy_set_hash': 'sha256:set',
      'mandate.shadow.decision': null,
      'mandate.outcome': 'ok',
      'mandate.arguments_digest': 'sha256:1f2e',
      'mandate.audit.seq': 41,
      'mandate.audit.result_seq': 42,
    });
  });

  it('fails with the denial\'s reason as error.type, and has no length', () => {
    const denied = spanFromAuditEvents({ ...decision, decision: 'deny', reason: 'tool_outside_scope', outcome: 'denied', policies: [], shadow: { decision: 'allow', policies: ['shadow-open'], errors: [] } });
    assert.deepEqual([denied.status, denied.statusMessage, denied.attributes['error.type']], ['error', 'tool_outside_scope', 'tool_outside_scope']);
    assert.deepEqual([denied.startMs, denied.endMs], [T + 2, T + 2]);
    assert.equal(denied.attributes['mandate.shadow.decision'], 'allow');
    assert.equal(denied.attributes['mandate.outcome'], 'denied');
    assert.equal(denied.attributes['mandate.audit.result_seq'], null);
  });

  it('fails with upstream_error when the upstream answered with an error', () => {
    const failed = spanFromAuditEvents(decision, { ...result, outcome: 'error' });
    assert.deepEqual([failed.status, failed.attributes['error.type']], ['error', 'upstream_error']);
  });

  it('keeps a resource URI out of the span name, and names a prompt', () => {
    const read = spanFromAuditEvents({ ...decision, method: 'resources/read', tool: 'file:///reports/q3.md' });
    assert.equal(read.name, 'resources/read');
    assert.equal(read.attributes['mcp.resource.uri'], 'file:///reports/q3.md');
    assert.equal(read.attributes['gen_ai.operation.name'], undefined, 'execute_tool only for tool calls');
    const prompt = spanFromAuditEvents({ ...decision, method: 'prompts/get', tool: 'summarise' });
    assert.equal(prompt.name, 'prompts/get summarise');
    assert.equal(prompt.attributes['gen_ai.prompt.name'], 'summarise');
  });

  it('takes an event not yet stored (no sequence number)', () => {
    const { seq: _seq, hash: _hash, ...unstored } = decision;
    assert.equal(spanFromAuditEvents(unstored as AuditEvent).attributes['mandate.audit.seq'], null);
  });

  it('carries no argument value, whatever the events hold', () => {
    const withSecrets = {
      ...decision, arguments: { api_key: FAKE_KEY }, token: FAKE_KEY,
      request: { principal: { type: 'Agent', id: 'agt_reader' }, action: 'tools/call', resource: { type: 'Tool', id: 'fs/read_file' }, context: { arguments: { api_key: FAKE_KEY } }, entities: [] },
    } as StoredAuditEvent;
    const encoded = JSON.stringify(encodeSpan(spanFromAuditEvents(withSecrets, { ...result, arguments: { api_key: FAKE_KEY } } as StoredAuditEvent)));
    assert.ok(!encoded.includes(FAKE_KEY));
  });

  it('refuses events of the wrong kinds, naming them', () => {
    const refused = (fn: () => unknown, message: string) => assert.throws(fn, (e: unknown) => e instanceof MandateError && e.code === 'audit_event_unmappable' && e.message === message);
    refused(() => spanFromAuditEvents(result), 'a call\'s span starts from its decision event, not a result event');
    refused(() => spanFromAuditEvents(decision, decision), 'a call\'s span ends with its result event, not a decision event');
  });
});
