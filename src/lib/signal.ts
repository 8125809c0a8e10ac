// A small, explicit notification between parts that must not import each other: a
// domain part says that something happened (mandates ended, an agent stopped, a
// credential changed) and the listeners the composition root (app.ts) added act on
// it. Listeners run one after another in the order they were added, so a later one
// may rely on an earlier one having finished (the gateway's sessions are closed before
// a database role is dropped). `emit` resolves once every listener has run. What was
// signalled has already happened and been stored: a listener's failure does not stop
// the listeners after it, and is reported rather than thrown back into the change.
export type Listener<T> = (value: T) => void | Promise<void>;

export class Signal<T> {
  readonly #what: string;
  readonly #listeners: Listener<T>[] = [];
  readonly #failed: (what: string, error: Error) => void;

  /** `what` names the signal in a failure report. */
  constructor(what: string, failed: (what: string, error: Error) => void = (w, e) => console.error(`mandate: after ${w}: ${e.message}`)) {
    this.#what = what;
    this.#failed = failed;
  }

  /** Adds a listener; answers a function that removes it. */
  on(listener: Listener<T>): () => void {
    this.#listeners.push(listener);
    return () => {
      const at = this.#listeners.indexOf(listener);
      if (at !== -1) this.#listeners.splice(at, 1);
    };
  }

  async emit(value: T): Promise<void> {
    for (const listener of [...this.#listeners]) {
      try {
        await listener(value);
      } catch (error) {
        this.#failed(this.#what, error instanceof Error ? error : new Error(String(error)));
      }
    }
  }
}
