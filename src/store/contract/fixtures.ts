// What the store contract's tests are made of: records as a backend stores them, a
// fixed clock, a public key, and the check of a refusal.
import assert from 'node:assert/strict';
import { actionDigest, type ActionBinding, type Approval } from '../../approvals/types.ts';
import { MandateError } from '../../errors.ts';
import type { Agent, Mandate, Person } from '../types.ts';

export const NOW = 1_800_000_000;

export const person = (id: string, overrides: Partial<Person> = {}): Person => ({
  id, email: `${id}@example.com`, name: id, status: 'active', issuer: null, subject: null, createdAt: NOW, ...overrides,
});

export const agent = (name: string, owner: string, overrides: Partial<Agent> = {}): Agent => ({
  id: `agt_${name}`, name, spiffeId: `spiffe://mandate.test/agent/${name}`, owner, sponsor: null, purpose: 'testing', environment: 'dev', status: 'active',
  reviewDue: null, keys: [], createdAt: NOW, enrolledAt: null, ...overrides,
});

export const mandate = (id: string, agentId: string, grantor: string, overrides: Partial<Mandate> = {}): Mandate => ({
  id, grantor, agentId, parentId: null, depth: 0, chain: [], purpose: 'a task', scope: ['fs/read_file'], notBefore: NOW, expiresAt: NOW + 900, maxCalls: null, callsUsed: 0,
  state: 'active', reason: null, createdAt: NOW, endedAt: null, endedBy: null, ...overrides,
});

/** A pending approval of a call under `mandateId`; `args` tells one action from another. */
export const approval = (id: string, mandateId: string, args = '{}', overrides: Partial<Approval> = {}): Approval => {
  const binding: ActionBinding = {
    server: 'fs', method: 'tools/call', target: 'write_file', argumentsDigest: `sha256:${args}`, mandateId, agent: 'spiffe://mandate.test/agent/bot',
  };
  return {
    id, digest: actionDigest(binding), binding, initiator: 'alice', approvers: [['owner', 'group:ops'], ['initiator']], policies: ['needs-approval'],
    preview: { path: '/reports/q3.txt' }, state: 'pending', createdAt: NOW, expiresAt: NOW + 900, decidedAt: null, decidedBy: null, note: null,
    usableUntil: null, repeatUntil: null, maxUses: 1, uses: 0, usedAt: null, ...overrides,
  };
};

export const KEY = { kty: 'EC', crv: 'P-256', x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0', kid: 'k1' };

export async function rejectsWith(promise: Promise<unknown>, code: string, status: number): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof MandateError, `expected a MandateError, got ${String(error)}`);
    assert.equal(error.code, code);
    assert.equal(error.status, status);
    return true;
  });
}
