// The store contract: task flows.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TaskFlow } from '../../delegation/task-flow.ts';
import type { ContractContext } from './context.ts';
import { NOW, mandate, rejectsWith } from './fixtures.ts';

export function taskFlowContract(t: ContractContext): void {
  describe('task flows', () => {
    const flow = (over: Partial<TaskFlow> = {}): TaskFlow => ({ maxSensitivity: 'public', untrusted: false, tools: [], destinations: [], ...over });

    it('keeps what has flowed, and only lets it grow', async () => {
      const bot = await t.withAgent();
      await t.store.createMandate(mandate('mnd_1', bot.id, 'alice'));
      assert.equal(await t.store.getTaskFlow('mnd_1'), null, 'nothing recorded yet');
      const first = await t.store.mergeTaskFlow('mnd_1', flow({ maxSensitivity: 'confidential', tools: ['fs/read_file'] }), NOW);
      assert.deepEqual(first, flow({ maxSensitivity: 'confidential', tools: ['fs/read_file'] }));
      // Lower sensitivity, untrusted content, a destination: the level stays, the rest is added.
      const second = await t.store.mergeTaskFlow('mnd_1', flow({ maxSensitivity: 'internal', untrusted: true, tools: ['web/post'], destinations: ['web/post'] }), NOW + 1);
      assert.deepEqual(second, { maxSensitivity: 'confidential', untrusted: true, tools: ['fs/read_file', 'web/post'], destinations: ['web/post'] });
      // A merge that forgets everything still loses nothing.
      assert.deepEqual(await t.store.mergeTaskFlow('mnd_1', flow(), NOW + 2), second);
      assert.deepEqual(await t.store.getTaskFlow('mnd_1'), second);
      assert.deepEqual(await t.store.mergeTaskFlow('mnd_1', flow({ maxSensitivity: 'secret' }), NOW + 3), { ...second, maxSensitivity: 'secret' });
    });

    it('merges flows observed at once without losing either', async () => {
      const bot = await t.withAgent();
      await t.store.createMandate(mandate('mnd_1', bot.id, 'alice'));
      await Promise.all([
        t.store.mergeTaskFlow('mnd_1', flow({ maxSensitivity: 'secret', tools: ['vault/read'] }), NOW),
        t.store.mergeTaskFlow('mnd_1', flow({ untrusted: true, tools: ['web/fetch'], destinations: ['web/fetch'] }), NOW),
      ]);
      assert.deepEqual(await t.store.getTaskFlow('mnd_1'), { maxSensitivity: 'secret', untrusted: true, tools: ['vault/read', 'web/fetch'], destinations: ['web/fetch'] });
    });

    it('is one flow for a whole delegation tree, kept under its root; none for an unknown mandate', async () => {
      const bot = await t.withAgent();
      await t.store.createMandate(mandate('mnd_root', bot.id, 'alice'));
      await t.store.createMandate(mandate('mnd_child', bot.id, 'alice', { parentId: 'mnd_root', depth: 1 }));
      await t.store.createMandate(mandate('mnd_grandchild', bot.id, 'alice', { parentId: 'mnd_child', depth: 2 }));
      await t.store.createMandate(mandate('mnd_other', bot.id, 'alice'));
      await t.store.mergeTaskFlow('mnd_grandchild', flow({ maxSensitivity: 'confidential', tools: ['crm/export'] }), NOW);
      await t.store.mergeTaskFlow('mnd_root', flow({ destinations: ['mail/send'], tools: ['mail/send'] }), NOW);
      const shared = { maxSensitivity: 'confidential', untrusted: false, tools: ['crm/export', 'mail/send'], destinations: ['mail/send'] };
      for (const id of ['mnd_root', 'mnd_child', 'mnd_grandchild']) assert.deepEqual(await t.store.getTaskFlow(id), shared, id);
      assert.equal(await t.store.getTaskFlow('mnd_other'), null);
      assert.equal(await t.store.getTaskFlow('mnd_none'), null);
      await rejectsWith(t.store.mergeTaskFlow('mnd_none', flow({ untrusted: true }), NOW), 'mandate_not_found', 400);
    });

    it('forgets the flows of ended tasks by their roots, and only those', async () => {
      const bot = await t.withAgent();
      await t.store.createMandate(mandate('mnd_root', bot.id, 'alice'));
      await t.store.createMandate(mandate('mnd_child', bot.id, 'alice', { parentId: 'mnd_root', depth: 1 }));
      await t.store.createMandate(mandate('mnd_other', bot.id, 'alice'));
      await t.store.mergeTaskFlow('mnd_child', flow({ maxSensitivity: 'secret', tools: ['vault/read'] }), NOW);
      await t.store.mergeTaskFlow('mnd_other', flow({ untrusted: true }), NOW);
      assert.equal(await t.store.forgetTaskFlows(['mnd_child']), 0, 'a child has no flow of its own');
      assert.equal((await t.store.getTaskFlow('mnd_child'))?.maxSensitivity, 'secret');
      assert.equal(await t.store.forgetTaskFlows(['mnd_root', 'mnd_child', 'mnd_none']), 1);
      assert.equal(await t.store.getTaskFlow('mnd_root'), null);
      assert.equal(await t.store.getTaskFlow('mnd_child'), null, 'remembered reads are forgotten too');
      assert.equal((await t.store.getTaskFlow('mnd_other'))?.untrusted, true);
      assert.equal(await t.store.forgetTaskFlows([]), 0);
    });
  });
}
