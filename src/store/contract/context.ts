// What each part of the store contract is given: the store of the test being run (a
// fresh one for every test) and a helper that registers an enrolled agent of alice's.
import type { Agent, Store } from '../types.ts';

export interface ContractContext {
  /** The store under test, opened afresh before each test. */
  readonly store: Store;
  /** Creates alice (once) and an agent of hers with an enrollment token of that hash. */
  withAgent(name?: string, tokenHash?: string, expiresAt?: number): Promise<Agent>;
}
