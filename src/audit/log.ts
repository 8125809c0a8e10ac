// The audit log's write side: appends are grouped into one store transaction per
// turn of the event loop (group commit), and each caller learns only once its event
// is durable. A caller acknowledges nothing before that; if the store fails, every
// waiting caller fails with it (and the gateway refuses the request).
import type { AuditEntry, Store } from '../store/types.ts';
import type { StoredAuditEvent } from './event.ts';

interface Waiting {
  entry: AuditEntry;
  resolve: (stored: StoredAuditEvent) => void;
  reject: (error: Error) => void;
}

export class AuditLog {
  readonly #store: Store;
  #queue: Waiting[] = [];
  #flushing: Promise<void> | null = null;

  constructor(store: Store) {
    this.#store = store;
  }

  append(entry: AuditEntry): Promise<StoredAuditEvent> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ entry, resolve, reject });
      if (!this.#flushing) this.#flushing = new Promise<void>((done) => setImmediate(() => void this.#flush().finally(done)));
    });
  }

  async #flush(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue;
      this.#queue = [];
      try {
        const stored = await this.#store.appendAuditEvents(batch.map((w) => w.entry));
        batch.forEach((w, i) => w.resolve(stored[i] as StoredAuditEvent));
      } catch (error) {
        for (const w of batch) w.reject(error as Error);
      }
    }
    this.#flushing = null;
  }

  /** Waits for every pending append (for a clean shutdown). */
  async drain(): Promise<void> {
    while (this.#flushing) await this.#flushing;
  }
}
