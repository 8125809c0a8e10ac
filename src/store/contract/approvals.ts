// The store contract: groups and approvals.
import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import type { Approval } from '../../approvals/types.ts';
import type { ApprovalUse } from '../types.ts';
import type { ContractContext } from './context.ts';
import { NOW, person, mandate, approval, rejectsWith } from './fixtures.ts';

export function approvalContract(t: ContractContext): void {
  describe('groups', () => {
    beforeEach(async () => {
      for (const id of ['alice', 'bob', 'carol']) await t.store.createPerson(person(id));
    });

    it('creates groups with members, lists them and the groups of a person', async () => {
      await t.store.createGroup({ name: 'ops', members: ['carol', 'alice', 'alice'], createdAt: NOW });
      await t.store.createGroup({ name: 'finance', members: [], createdAt: NOW + 1 });
      assert.deepEqual(await t.store.getGroup('ops'), { name: 'ops', members: ['alice', 'carol'], createdAt: NOW });
      assert.equal(await t.store.getGroup('none'), null);
      assert.deepEqual(await t.store.listGroups(), [{ name: 'finance', members: [], createdAt: NOW + 1 }, { name: 'ops', members: ['alice', 'carol'], createdAt: NOW }]);
      assert.deepEqual(await t.store.groupsOf('alice'), ['ops']);
      assert.deepEqual(await t.store.groupsOf('bob'), []);
    });

    it('refuses a taken name or an unknown member, leaving nothing behind', async () => {
      await t.store.createGroup({ name: 'ops', members: ['alice'], createdAt: NOW });
      await rejectsWith(t.store.createGroup({ name: 'ops', members: [], createdAt: NOW }), 'group_exists', 409);
      await rejectsWith(t.store.createGroup({ name: 'new', members: ['bob', 'nobody'], createdAt: NOW }), 'person_not_found', 400);
      assert.equal(await t.store.getGroup('new'), null);
      assert.deepEqual(await t.store.groupsOf('bob'), []);
    });

    it('adds and removes members', async () => {
      await t.store.createGroup({ name: 'ops', members: ['alice'], createdAt: NOW });
      assert.equal(await t.store.addGroupMember('ops', 'bob', NOW), true);
      assert.equal(await t.store.addGroupMember('ops', 'bob', NOW), false, 'already a member');
      await rejectsWith(t.store.addGroupMember('ops', 'nobody', NOW), 'person_not_found', 404);
      await rejectsWith(t.store.addGroupMember('none', 'bob', NOW), 'group_not_found', 404);
      assert.deepEqual((await t.store.getGroup('ops'))?.members, ['alice', 'bob']);
      assert.equal(await t.store.removeGroupMember('ops', 'alice'), true);
      assert.equal(await t.store.removeGroupMember('ops', 'alice'), false);
      assert.deepEqual((await t.store.getGroup('ops'))?.members, ['bob']);
      assert.deepEqual(await t.store.groupsOf('alice'), []);
    });
  });
  describe('approvals', () => {
    beforeEach(async () => {
      const bot = await t.withAgent('bot');
      await t.store.createMandate(mandate('mnd_1', bot.id, 'alice'));
      await t.store.createMandate(mandate('mnd_2', bot.id, 'alice'));
    });
    const once = (now = NOW): ApprovalUse => ({ usableUntil: now + 300, repeatUntil: null, maxUses: 1 });
    const approved = async (id: string, args = '{}', use: ApprovalUse = once()): Promise<Approval> => {
      const a = approval(id, 'mnd_1', args);
      await t.store.createApproval(a);
      const decided = await t.store.decideApproval(id, 'approved', 'person bob', 'looks right', NOW, use);
      assert.ok(decided.ok);
      return decided.approval;
    };

    it('creates, reads, finds the pending one of a digest and lists newest first', async () => {
      const a = approval('apr_a', 'mnd_1');
      const b = approval('apr_b', 'mnd_2', '{"x":1}', { createdAt: NOW + 1 });
      await t.store.createApproval(a);
      await t.store.createApproval(b);
      assert.deepEqual(await t.store.getApproval('apr_a'), a);
      assert.equal(await t.store.getApproval('apr_none'), null);
      assert.deepEqual(await t.store.findPendingApproval(a.digest, NOW), a);
      assert.equal(await t.store.findPendingApproval(a.digest, NOW + 900), null, 'past its expiry');
      assert.equal(await t.store.findPendingApproval('sha256:none', NOW), null);
      assert.deepEqual((await t.store.listApprovals()).map((x) => x.id), ['apr_b', 'apr_a']);
      assert.deepEqual((await t.store.listApprovals({ mandateId: 'mnd_1' })).map((x) => x.id), ['apr_a']);
      assert.deepEqual((await t.store.listApprovals({ state: 'approved' })), []);
      assert.deepEqual((await t.store.listApprovals({ limit: 1 })).map((x) => x.id), ['apr_b']);
    });

    it('keeps one pending approval per digest, and refuses an unknown mandate', async () => {
      await t.store.createApproval(approval('apr_a', 'mnd_1'));
      await rejectsWith(t.store.createApproval(approval('apr_b', 'mnd_1')), 'approval_exists', 409);
      await rejectsWith(t.store.createApproval(approval('apr_c', 'mnd_none')), 'mandate_not_found', 400);
      await t.store.createApproval(approval('apr_d', 'mnd_1', '{"other":true}'));
      assert.deepEqual((await t.store.listApprovals()).map((x) => x.id).sort(), ['apr_a', 'apr_d']);
    });

    it('approves only while pending, once', async () => {
      await t.store.createApproval(approval('apr_a', 'mnd_1'));
      const decided = await t.store.decideApproval('apr_a', 'approved', 'person bob', 'looks right', NOW + 10, { usableUntil: NOW + 310, repeatUntil: NOW + 3610, maxUses: 20 });
      assert.ok(decided.ok);
      assert.deepEqual(
        [decided.approval.state, decided.approval.decidedAt, decided.approval.decidedBy, decided.approval.note, decided.approval.usableUntil, decided.approval.repeatUntil, decided.approval.maxUses],
        ['approved', NOW + 10, 'person bob', 'looks right', NOW + 310, NOW + 3610, 20],
      );
      const again = await t.store.decideApproval('apr_a', 'denied', 'person carol', null, NOW + 11, once());
      assert.deepEqual([again.ok, !again.ok && again.reason, again.approval?.state, again.approval?.decidedBy], [false, 'not_pending', 'approved', 'person bob']);
      const none = await t.store.decideApproval('apr_none', 'approved', 'person bob', null, NOW, once());
      assert.deepEqual([none.ok, !none.ok && none.reason, none.approval], [false, 'not_found', null]);
      assert.equal(await t.store.findPendingApproval(decided.approval.digest, NOW), null);
    });

    it('finds the latest denial of a digest decided after a moment, and nothing else', async () => {
      await t.store.createApproval(approval('apr_a', 'mnd_1'));
      assert.ok((await t.store.decideApproval('apr_a', 'denied', 'person bob', 'no', NOW + 10, once())).ok);
      await t.store.createApproval(approval('apr_b', 'mnd_1'));
      assert.ok((await t.store.decideApproval('apr_b', 'denied', 'person carol', null, NOW + 20, once())).ok);
      await t.store.createApproval(approval('apr_c', 'mnd_1'));
      const digest = (await t.store.getApproval('apr_a'))?.digest as string;
      assert.equal((await t.store.findDeniedApproval(digest, NOW))?.id, 'apr_b', 'the latest denial');
      assert.equal((await t.store.findDeniedApproval(digest, NOW + 19))?.id, 'apr_b');
      assert.equal(await t.store.findDeniedApproval(digest, NOW + 20), null, 'decided at, not after');
      assert.equal(await t.store.findDeniedApproval('sha256:none', NOW), null);
      await t.store.createApproval(approval('apr_d', 'mnd_1', '{"other":true}'));
      assert.ok((await t.store.decideApproval('apr_d', 'approved', 'person bob', null, NOW + 30, once())).ok);
      assert.equal(await t.store.findDeniedApproval((await t.store.getApproval('apr_d'))?.digest as string, NOW), null, 'an approval is no denial');
    });

    it('uses an approval once: a second use, and any use after it was used, is refused', async () => {
      const a = await approved('apr_a');
      const used = await t.store.consumeApproval(a.digest, NOW + 1);
      assert.deepEqual([used?.id, used?.state, used?.uses, used?.usedAt], ['apr_a', 'used', 1, NOW + 1]);
      assert.equal(await t.store.consumeApproval(a.digest, NOW + 2), null);
      assert.equal((await t.store.getApproval('apr_a'))?.uses, 1);
      assert.equal(await t.store.consumeApproval(approval('x', 'mnd_1', '{"other":true}').digest, NOW + 1), null, 'another action has no approval');
    });

    it('lets exactly one of two racing consumers have a single-use approval', async () => {
      const a = await approved('apr_a');
      const outcomes = await Promise.all([t.store.consumeApproval(a.digest, NOW + 1), t.store.consumeApproval(a.digest, NOW + 1)]);
      assert.deepEqual(outcomes.map((o) => o?.id ?? null).sort(), ['apr_a', null].sort());
      assert.equal((await t.store.getApproval('apr_a'))?.uses, 1);
    });

    it('refuses a use after the window', async () => {
      const a = await approved('apr_a');
      assert.equal(await t.store.consumeApproval(a.digest, NOW + 300), null);
      assert.deepEqual(await t.store.expireApprovals(NOW + 300).then((list) => list.map((x) => [x.id, x.state])), [['apr_a', 'expired']]);
      assert.equal(await t.store.consumeApproval(a.digest, NOW + 1), null, 'an expired approval stays expired');
    });

    it('repeats identical calls until repeatUntil, at most maxUses times', async () => {
      const a = await approved('apr_a', '{}', { usableUntil: NOW + 300, repeatUntil: NOW + 600, maxUses: 3 });
      assert.equal((await t.store.findUsableApproval(a.digest, NOW + 1))?.uses, 0, 'found without being used');
      assert.equal((await t.store.consumeApproval(a.digest, NOW + 1))?.state, 'approved');
      assert.equal((await t.store.consumeApproval(a.digest, NOW + 500))?.uses, 2, 'past the window, within the repeat period');
      const last = await t.store.consumeApproval(a.digest, NOW + 501);
      assert.deepEqual([last?.uses, last?.state], [3, 'used']);
      assert.equal(await t.store.consumeApproval(a.digest, NOW + 502), null, 'its uses are spent');
      assert.equal(await t.store.findUsableApproval(a.digest, NOW + 502), null, 'nor found usable');
      const b = await approved('apr_b', '{"b":1}', { usableUntil: NOW + 300, repeatUntil: NOW + 600, maxUses: 5 });
      assert.equal((await t.store.consumeApproval(b.digest, NOW + 10))?.uses, 1);
      assert.equal((await t.store.findUsableApproval(b.digest, NOW + 599))?.id, 'apr_b');
      assert.equal(await t.store.findUsableApproval(b.digest, NOW + 600), null, 'past the repeat period');
      assert.equal(await t.store.consumeApproval(b.digest, NOW + 600), null, 'past the repeat period');
      assert.deepEqual((await t.store.expireApprovals(NOW + 600)).map((x) => [x.id, x.state, x.uses]), [['apr_b', 'used', 1]]);
    });

    it('keeps a denial final: never used, never decided again', async () => {
      const a = approval('apr_a', 'mnd_1');
      await t.store.createApproval(a);
      const denied = await t.store.decideApproval('apr_a', 'denied', 'admin', 'not today', NOW + 5, once());
      assert.deepEqual([denied.ok, denied.approval?.state, denied.approval?.usableUntil, denied.approval?.note], [true, 'denied', null, 'not today']);
      assert.equal(await t.store.consumeApproval(a.digest, NOW + 6), null);
      const again = await t.store.decideApproval('apr_a', 'approved', 'person bob', null, NOW + 7, once());
      assert.deepEqual([again.ok, !again.ok && again.reason, again.approval?.state], [false, 'not_pending', 'denied']);
      assert.deepEqual(await t.store.expireApprovals(NOW + 10_000), []);
      assert.equal((await t.store.getApproval('apr_a'))?.state, 'denied');
    });

    it('keeps an expiry final: a pending approval past its expiry cannot be decided', async () => {
      const a = approval('apr_a', 'mnd_1');
      await t.store.createApproval(a);
      const late = await t.store.decideApproval('apr_a', 'approved', 'person bob', null, NOW + 900, once(NOW + 900));
      assert.deepEqual([late.ok, !late.ok && late.reason, late.approval?.state], [false, 'expired', 'expired']);
      assert.equal(await t.store.consumeApproval(a.digest, NOW + 901), null);
      const again = await t.store.decideApproval('apr_a', 'approved', 'person bob', null, NOW + 1, once());
      assert.deepEqual([again.ok, !again.ok && again.reason], [false, 'not_pending']);
      // The same action may be asked for anew: the expired one no longer stands in the way.
      await t.store.createApproval(approval('apr_b', 'mnd_1'));
      assert.equal((await t.store.findPendingApproval(a.digest, NOW + 901))?.id, undefined, 'apr_b is past its expiry too at that time');
      assert.equal((await t.store.findPendingApproval(a.digest, NOW))?.id, 'apr_b');
    });

    it('expires pending approvals past their expiry, and only those', async () => {
      await t.store.createApproval(approval('apr_due', 'mnd_1', '{"a":1}', { expiresAt: NOW + 10 }));
      await t.store.createApproval(approval('apr_later', 'mnd_1', '{"a":2}', { expiresAt: NOW + 1000 }));
      assert.deepEqual((await t.store.expireApprovals(NOW + 10)).map((x) => [x.id, x.state]), [['apr_due', 'expired']]);
      assert.equal((await t.store.getApproval('apr_later'))?.state, 'pending');
      assert.deepEqual(await t.store.expireApprovals(NOW + 11), []);
      const decided = await t.store.decideApproval('apr_due', 'approved', 'person bob', null, NOW, once());
      assert.deepEqual([decided.ok, !decided.ok && decided.reason], [false, 'not_pending'], 'expired is final');
    });
  });
}
