// Signs the audit ledger's checkpoints: every `entries` events, and at most
// `intervalMs` after the log last grew, so a verifier never waits long for a signed
// head that covers a call. Before signing, the new tree is proved consistent with the
// last signed one from the stored hashes: the log never signs two checkpoints that
// contradict each other, even over a store that was altered underneath it.
import { ledgerError } from './ledger-error.ts';
import type { AuditKey } from './audit-key.ts';
import { consistencyProof, openCheckpoint, signCheckpoint, verifyConsistency, type Checkpoint } from './merkle/index.ts';
import { parseVerifierKey } from './note/index.ts';
import { ledgerHashes } from './ledger-reader.ts';
import type { Store, StoredCheckpoint } from '../store/types.ts';

export interface CheckpointerOptions {
  intervalMs: number;
  entries: number;
  log?: (line: string) => void;
}

export class Checkpointer {
  readonly #store: Store;
  readonly #key: AuditKey;
  readonly #options: CheckpointerOptions;
  #latest: StoredCheckpoint | null = null;
  #pending = 0;
  #signing: Promise<StoredCheckpoint | null> = Promise.resolve(null);
  #timer: NodeJS.Timeout | null = null;
  #failure: string | null = null;

  constructor(store: Store, key: AuditKey, options: CheckpointerOptions) {
    this.#store = store;
    this.#key = key;
    this.#options = options;
  }

  get origin(): string {
    return this.#key.origin;
  }

  get verifierKey(): string {
    return this.#key.verifierKey;
  }

  /** Why the last signing was refused, if it was (readiness reports it). */
  get failure(): string | null {
    return this.#failure;
  }

  async start(): Promise<void> {
    this.#latest = await this.#store.latestAuditCheckpoint();
    await this.checkpoint();
    this.#timer = setInterval(() => void this.checkpoint().catch(() => undefined), this.#options.intervalMs);
    this.#timer.unref();
  }

  /** Told of every committed batch of events. */
  committed(count: number): void {
    this.#pending += count;
    if (this.#pending >= this.#options.entries) void this.checkpoint().catch(() => undefined);
  }

  /** The latest signed checkpoint (at most an interval behind the log). */
  get latest(): StoredCheckpoint | null {
    return this.#latest;
  }

  /** The latest signed checkpoint, signing one first if the log has grown past it. */
  async current(): Promise<StoredCheckpoint | null> {
    return this.checkpoint();
  }

  /** Signs a checkpoint of the committed tree if it grew since the last one; answers the latest. */
  checkpoint(): Promise<StoredCheckpoint | null> {
    this.#signing = this.#signing.catch(() => null).then(() => this.#sign());
    return this.#signing;
  }

  async #sign(): Promise<StoredCheckpoint | null> {
    const head = await this.#store.auditTreeHead();
    const latest = this.#latest;
    if (latest && head.size === latest.size) return latest;
    try {
      if (latest && latest.size > 0) {
        if (head.size < latest.size) throw ledgerError('tree_size_invalid', `the log holds ${head.size} events, fewer than the ${latest.size} its last checkpoint signed`);
        const signed = this.open(latest.note);
        const proof = await consistencyProof(ledgerHashes(this.#store), latest.size, head.size);
        verifyConsistency({ oldSize: latest.size, newSize: head.size, proof, oldRoot: signed.rootHash, newRoot: head.rootHash });
      }
    } catch (error) {
      this.#failure = `refusing to sign a checkpoint of ${head.size} events: ${(error as Error).message}`;
      (this.#options.log ?? console.error)(`mandate: audit ${this.#failure}`);
      throw error;
    }
    const note = signCheckpoint({ origin: this.#key.origin, size: head.size, rootHash: head.rootHash }, [this.#key.signer]);
    const stored: StoredCheckpoint = { size: head.size, time: Date.now(), note };
    await this.#store.addAuditCheckpoint(stored);
    this.#latest = stored;
    this.#pending = 0;
    this.#failure = null;
    return stored;
  }

  /** Verifies and parses a checkpoint note of this log. */
  open(note: string): Checkpoint {
    return openCheckpoint(note, { origin: this.#key.origin, verifiers: [parseVerifierKey(this.#key.verifierKey)] }).checkpoint;
  }

  /** Stops the timer and signs what was committed last. */
  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await this.checkpoint().catch(() => undefined);
  }
}
