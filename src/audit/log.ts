// The audit log's write side: appends are grouped into one store transaction (group
// commit), and each caller learns only once its event is durable. A caller
// acknowledges nothing before that; if the store fails, every waiting caller fails
// with it (and the gateway refuses the request).
//
// A batch is committed on the next turn of the event loop, or — with `maxDelayMs` —
// up to that many milliseconds later, so that more appends share one commit (and one
// fsync with synchronous=full); `maxDelayMs` is the latency bound a caller accepts
// for it. While a commit is running, new appends queue for the next one.
import type { AuditEntry, Store } from '../store/types.ts';
import type { StoredAuditEvent } from './event.ts';

interface Waiting {
  entry: AuditEntry;
  resolve: (stored: StoredAuditEvent) => void;
  reject: (error: Error) => void;
}

export interface AuditLogOptions {
  /** The longest an append waits for others to share its commit (ms; 0: the next turn). */
  maxDelayMs?: number;
  /** Events per transaction at most; a longer queue is committed in several. */
  maxBatch?: number;
}

/** Told of each committed batch, in order: the ledger's checkpointer, telemetry. */
export type CommitListener = (events: readonly StoredAuditEvent[]) => void;

export class AuditLog {
  readonly #store: Store;
  readonly #maxDelayMs: number;
  readonly #maxBatch: number;
  readonly #listeners: CommitListener[] = [];
  #queue: Waiting[] = [];
  #flushing: Promise<void> | null = null;

  constructor(store: Store, options: AuditLogOptions = {}) {
    this.#store = store;
    this.#maxDelayMs = options.maxDelayMs ?? 0;
    this.#maxBatch = options.maxBatch ?? 1000;
  }

  onCommit(listener: CommitListener): void {
    this.#listeners.push(listener);
  }

  append(entry: AuditEntry): Promise<StoredAuditEvent> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ entry, resolve, reject });
      if (!this.#flushing) {
        this.#flushing = new Promise<void>((done) => {
          const flush = (): void => void this.#flush().finally(done);
          if (this.#maxDelayMs > 0) setTimeout(flush, this.#maxDelayMs);
          else setImmediate(flush);
        });
      }
    });
  }

  async #flush(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, this.#maxBatch);
      let stored: StoredAuditEvent[];
      try {
        stored = await this.#store.appendAuditEvents(batch.map((w) => w.entry));
      } catch (error) {
        for (const w of batch) w.reject(error as Error);
        continue;
      }
      batch.forEach((w, i) => w.resolve(stored[i] as StoredAuditEvent));
      for (const listener of this.#listeners) {
        try {
          listener(stored);
        } catch (error) {
          console.error(`mandate: an audit commit listener failed: ${(error as Error).message}`);
        }
      }
    }
    this.#flushing = null;
  }

  /** Waits for every pending append (for a clean shutdown). */
  async drain(): Promise<void> {
    while (this.#flushing) await this.#flushing;
  }
}
