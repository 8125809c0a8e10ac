// The Store test-suite, written against the interface: every backend (SQLite today,
// PostgreSQL next) runs exactly these tests through `storeContract`. Each part lives in
// contract/, one file per domain; this file opens a fresh store for every test.
import { afterEach, beforeEach, describe, it } from 'node:test';
import { approvalContract } from './contract/approvals.ts';
import { auditContract } from './contract/audit.ts';
import type { ContractContext } from './contract/context.ts';
import { credentialContract } from './contract/credentials.ts';
import { directoryContract } from './contract/directory.ts';
import { agent, NOW, person } from './contract/fixtures.ts';
import { identityContract } from './contract/identity.ts';
import { mandateContract } from './contract/mandates.ts';
import { taskFlowContract } from './contract/task-flows.ts';
import type { Agent, Store } from './types.ts';

export { agent, approval, mandate, person } from './contract/fixtures.ts';

export interface OpenedStore {
  store: Store;
  cleanup: () => Promise<void>;
}

export function storeContract(label: string, open: () => Promise<OpenedStore>): void {
  describe(`Store contract: ${label}`, () => {
    let opened: OpenedStore;

    beforeEach(async () => {
      opened = await open();
    });
    afterEach(async () => {
      await opened.store.close();
      await opened.cleanup();
    });

    const t: ContractContext = {
      get store() {
        return opened.store;
      },
      async withAgent(name = 'bot', tokenHash = `hash-${name}`, expiresAt = NOW + 900): Promise<Agent> {
        if (!(await opened.store.getPerson('alice'))) await opened.store.createPerson(person('alice'));
        const a = agent(name, 'alice');
        await opened.store.createAgent(a, { tokenHash, agentId: a.id, expiresAt });
        return a;
      },
    };

    directoryContract(t);
    mandateContract(t);
    identityContract(t);
    auditContract(t);
    credentialContract(t);
    approvalContract(t);
    taskFlowContract(t);

    it('answers ping', async () => {
      await opened.store.ping();
    });
  });
}
