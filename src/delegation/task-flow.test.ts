// The task flow: what each outcome of each kind of request adds, that nothing is
// ever taken away, and the history policies read.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ToolLabels } from '../store/types.ts';
import { NEW_TASK_FLOW, NO_HISTORY, UNLABELLED, historyContext, joinTaskFlows, observe, type FlowOutcome, type TaskFlow } from './task-flow.ts';

const labels = (sensitivity: ToolLabels['sensitivity'], egress: ToolLabels['egress'], effect: ToolLabels['effect'] = 'read'): ToolLabels => ({ sensitivity, effect, egress });
const tool = (call: string, l?: ToolLabels) => ({ method: 'tools/call' as const, call, labels: l });
const OUTCOMES: FlowOutcome[] = ['refused', 'failed', 'error', 'ok'];

describe('observe', () => {
  it('a refused request changes nothing (the very same flow)', () => {
    for (const step of [tool('crm/export', labels('secret', 'external')), { method: 'resources/read' as const, call: 'fs/resource:*' }]) {
      assert.equal(observe(NEW_TASK_FLOW, step, 'refused'), NEW_TASK_FLOW);
    }
  });

  it('a tool call that reached the upstream is a tool called; with egress external, a destination contacted', () => {
    for (const outcome of OUTCOMES.slice(1)) {
      const internal = observe(NEW_TASK_FLOW, tool('fs/read_file', labels('internal', 'internal')), outcome);
      assert.deepEqual([internal.tools, internal.destinations], [['fs/read_file'], []], outcome);
      const external = observe(internal, tool('mail/send_email', labels('public', 'external', 'write')), outcome);
      assert.deepEqual([external.tools, external.destinations], [['fs/read_file', 'mail/send_email'], ['mail/send_email']], outcome);
    }
  });

  it('a reply from an external-egress tool, or a resource read, is untrusted content; a failure with no reply is not', () => {
    const untrusted = (step: Parameters<typeof observe>[1]) => OUTCOMES.map((o) => observe(NEW_TASK_FLOW, step, o).untrusted);
    assert.deepEqual(untrusted(tool('web/fetch', labels('public', 'external'))), [false, false, true, true]);
    assert.deepEqual(untrusted({ method: 'resources/read', call: 'fs/resource:*' }), [false, false, true, true]);
    assert.deepEqual(untrusted(tool('fs/read_file', labels('public', 'internal'))), [false, false, false, false]);
    assert.deepEqual(untrusted({ method: 'prompts/get', call: 'fs/prompt:summarize' }), [false, false, false, false]);
  });

  it('a result raises the highest sensitivity to the tool\'s, and only a result; it never falls', () => {
    assert.deepEqual(OUTCOMES.map((o) => observe(NEW_TASK_FLOW, tool('crm/export', labels('confidential', 'internal')), o).maxSensitivity), ['public', 'public', 'public', 'confidential']);
    const secret = observe(NEW_TASK_FLOW, tool('vault/read', labels('secret', 'internal')), 'ok');
    assert.equal(observe(secret, tool('fs/read_file', labels('internal', 'internal')), 'ok').maxSensitivity, 'secret');
    assert.equal(observe(NEW_TASK_FLOW, { method: 'resources/read', call: 'fs/resource:*' }, 'ok').maxSensitivity, 'public', 'resources carry no label');
  });

  it('an unlabelled tool hands back internal data and reaches outside', () => {
    assert.deepEqual(UNLABELLED, { sensitivity: 'internal', effect: 'write', egress: 'external' });
    assert.deepEqual(observe(NEW_TASK_FLOW, tool('new/thing'), 'ok'), { maxSensitivity: 'internal', untrusted: true, tools: ['new/thing'], destinations: ['new/thing'] });
  });

  it('returns the same flow when the outcome adds nothing, so it need not be saved again', () => {
    const once = observe(NEW_TASK_FLOW, tool('web/fetch', labels('internal', 'external')), 'ok');
    assert.equal(observe(once, tool('web/fetch', labels('internal', 'external')), 'ok'), once);
    assert.equal(observe(once, tool('web/fetch', labels('public', 'external')), 'error'), once);
    assert.notEqual(observe(once, tool('web/post', labels('internal', 'external')), 'failed'), once);
  });

  it('never changes the flow it is given, nor the new task', () => {
    const before = observe(NEW_TASK_FLOW, tool('a/x', labels('internal', 'internal')), 'ok');
    const copy = structuredClone(before);
    observe(before, tool('b/y', labels('secret', 'external')), 'ok');
    assert.deepEqual(before, copy);
    assert.deepEqual(NEW_TASK_FLOW, { maxSensitivity: 'public', untrusted: false, tools: [], destinations: [] });
    assert.ok(Object.isFrozen(NEW_TASK_FLOW) && Object.isFrozen(NEW_TASK_FLOW.tools));
  });
});

describe('joinTaskFlows', () => {
  it('holds everything either flow saw, whichever order', () => {
    const a: TaskFlow = { maxSensitivity: 'confidential', untrusted: false, tools: ['crm/export'], destinations: [] };
    const b: TaskFlow = { maxSensitivity: 'internal', untrusted: true, tools: ['web/fetch'], destinations: ['web/fetch'] };
    const joined = { maxSensitivity: 'confidential', untrusted: true, tools: ['crm/export', 'web/fetch'], destinations: ['web/fetch'] };
    assert.deepEqual(joinTaskFlows(a, b), joined);
    assert.deepEqual(joinTaskFlows(b, a), joined);
    assert.deepEqual(joinTaskFlows(a, a), a);
  });
});

describe('historyContext', () => {
  it('is the History record of the schema', () => {
    assert.deepEqual(NO_HISTORY, { max_sensitivity: 'public', max_sensitivity_level: 0, untrusted: false, tools: [], external: false, destinations: [] });
    const flow = observe(observe(NEW_TASK_FLOW, tool('crm/export', labels('confidential', 'internal')), 'ok'), tool('mail/send_email', labels('public', 'external', 'write')), 'failed');
    assert.deepEqual(historyContext(flow), {
      max_sensitivity: 'confidential', max_sensitivity_level: 2, untrusted: false, tools: ['crm/export', 'mail/send_email'], external: true, destinations: ['mail/send_email'],
    });
  });
});
