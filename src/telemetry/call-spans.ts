// Traces of governed calls, made from the audit log's committed events rather than
// from inside the gateway: a span is exported only for what the log holds, and the
// hot path pays nothing for it. A denied call is a span at its decision; an allowed
// one waits for its result (the next result of the same mandate, server, method,
// target and arguments) and is exported with it. A decision whose result never comes
// (its session ended first) is exported alone after `maxWaitMs`, or when too many wait.
import type { StoredAuditEvent } from '../audit/event.ts';
import { spanFromAuditEvents } from './audit-span.ts';
import type { CompletedSpan } from './otlp.ts';

export interface SpanSink {
  recordCall(span: CompletedSpan): void;
}

const callKey = (e: StoredAuditEvent): string => JSON.stringify([e.mandate, e.server, e.method, e.tool, e.argumentsDigest]);

export class CallSpans {
  readonly #sink: SpanSink;
  readonly #maxWaitMs: number;
  readonly #maxWaiting: number;
  /** Allowed decisions waiting for their result, oldest first within each call key. */
  readonly #waiting = new Map<string, StoredAuditEvent[]>();
  #count = 0;

  constructor(sink: SpanSink, options: { maxWaitMs?: number; maxWaiting?: number } = {}) {
    this.#sink = sink;
    this.#maxWaitMs = options.maxWaitMs ?? 5 * 60_000;
    this.#maxWaiting = options.maxWaiting ?? 10_000;
  }

  /** An audit commit listener (AuditLog.onCommit). */
  committed(events: readonly StoredAuditEvent[]): void {
    for (const event of events) {
      if (event.kind === 'decision') {
        // A credential use has no result of its own: it is a span at its decision.
        if (event.decision !== 'allow' || event.method === 'credential/use') this.#emit(event);
        else this.#wait(event);
      } else if (event.kind === 'result') {
        const decision = this.#take(event);
        if (decision) this.#emit(decision, event);
      }
    }
    this.#expire(Date.now());
  }

  /** Exports every decision still waiting, alone (at shutdown). */
  flush(): void {
    for (const queue of this.#waiting.values()) for (const decision of queue) this.#emit(decision);
    this.#waiting.clear();
    this.#count = 0;
  }

  #wait(decision: StoredAuditEvent): void {
    const key = callKey(decision);
    const queue = this.#waiting.get(key);
    if (queue) queue.push(decision);
    else this.#waiting.set(key, [decision]);
    this.#count++;
    if (this.#count > this.#maxWaiting) this.#expire(Date.now(), this.#count - this.#maxWaiting);
  }

  #take(result: StoredAuditEvent): StoredAuditEvent | undefined {
    const key = callKey(result);
    const queue = this.#waiting.get(key);
    const decision = queue?.shift();
    if (queue && queue.length === 0) this.#waiting.delete(key);
    if (decision) this.#count--;
    return decision;
  }

  /**
   * Exports alone the decisions that waited past maxWaitMs (or, with `atLeast`, the
   * oldest that many). Keys are kept in the order they first waited, so the walk stops
   * at the first one that is young enough: a commit costs nothing when none are due.
   */
  #expire(now: number, atLeast = 0): void {
    let expired = 0;
    for (const [key, queue] of this.#waiting) {
      while (queue.length > 0 && (expired < atLeast || now - (queue[0] as StoredAuditEvent).time > this.#maxWaitMs)) {
        this.#emit(queue.shift() as StoredAuditEvent);
        this.#count--;
        expired++;
      }
      if (queue.length > 0) {
        if (expired >= atLeast) return;
      } else {
        this.#waiting.delete(key);
      }
    }
  }

  #emit(decision: StoredAuditEvent, result?: StoredAuditEvent): void {
    try {
      this.#sink.recordCall(spanFromAuditEvents(decision, result));
    } catch (error) {
      console.error(`mandate: a trace span could not be made for audit event ${decision.seq}: ${(error as Error).message}`);
    }
  }
}
