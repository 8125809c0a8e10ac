// Approval notifications to a webhook: `approval.requested` and `approval.decided`,
// POSTed as JSON signed per Standard Webhooks (standard-webhooks.ts). A delivery runs
// off the path of whatever caused it: `send` returns at once, the attempts follow (a
// failed one is tried again after the backoff, then 4× and 16× as long, each with a
// timeout), and what became of each attempt is reported to `recorded` (which audits
// it). Nothing here throws into its caller: a receiver that is down, slow or wrong
// delays nothing and breaks nothing.
import { newId } from '../lib/ids.ts';
import { webhookHeaders, webhookKey } from './standard-webhooks.ts';

export type ApprovalEventType = 'approval.requested' | 'approval.decided';

export interface DeliveryOutcome {
  type: ApprovalEventType;
  /** The message's `webhook-id`, the same on every attempt. */
  messageId: string;
  attempt: number;
  attempts: number;
  outcome: 'ok' | 'error';
  /** `webhook_http_error`, `webhook_unreachable` or `webhook_timeout`; null when delivered. */
  reason: string | null;
  /** For people: `attempt 1 of 4: HTTP 500`. */
  note: string;
}

export interface WebhookOptions {
  url: string;
  /** `whsec_<base64>`. */
  secret: string;
  /** Before the second attempt; the third waits 4× as long, the fourth 16×. */
  backoffMs: number;
  attempts?: number;
  /** Each attempt's limit. */
  timeoutMs?: number;
}

export class ApprovalWebhook {
  readonly #url: string;
  readonly #key: Buffer;
  readonly #backoffMs: number;
  readonly #attempts: number;
  readonly #timeoutMs: number;
  readonly #recorded: (subject: string, outcome: DeliveryOutcome) => Promise<void>;
  readonly #closing = new AbortController();
  readonly #deliveries = new Set<Promise<void>>();

  /** `recorded` is told of each attempt, with the subject `send` was given (the approval's id). */
  constructor(options: WebhookOptions, recorded: (subject: string, outcome: DeliveryOutcome) => Promise<void>) {
    this.#url = options.url;
    this.#key = webhookKey(options.secret);
    this.#backoffMs = options.backoffMs;
    this.#attempts = options.attempts ?? 4;
    this.#timeoutMs = options.timeoutMs ?? 5000;
    this.#recorded = recorded;
  }

  /** Delivers `{type, timestamp, data}` in the background. */
  send(type: ApprovalEventType, subject: string, data: unknown): void {
    if (this.#closing.signal.aborted) return;
    const body = JSON.stringify({ type, timestamp: new Date().toISOString(), data });
    const delivery = this.#deliver(type, subject, newId('msg'), body).catch((error: unknown) => {
      console.error(`mandate: an approval notification failed: ${(error as Error).message}`);
    });
    this.#deliveries.add(delivery);
    void delivery.finally(() => this.#deliveries.delete(delivery));
  }

  /** Resolves once every delivery under way has ended (delivered or given up). */
  async idle(): Promise<void> {
    while (this.#deliveries.size > 0) await Promise.all([...this.#deliveries]);
  }

  /** Stops: attempts under way are cut short, no retry follows. */
  async close(): Promise<void> {
    this.#closing.abort();
    await this.idle();
  }

  async #deliver(type: ApprovalEventType, subject: string, messageId: string, body: string): Promise<void> {
    for (let attempt = 1; attempt <= this.#attempts; attempt++) {
      if (attempt > 1 && !(await this.#pause(this.#backoffMs * 4 ** (attempt - 2)))) return;
      const result = await this.#attempt(body, messageId);
      if (this.#closing.signal.aborted && result.outcome === 'error') return;
      const outcome: DeliveryOutcome = { type, messageId, attempt, attempts: this.#attempts, ...result, note: `attempt ${attempt} of ${this.#attempts}: ${result.note}` };
      await this.#recorded(subject, outcome).catch((error: unknown) => console.error(`mandate: could not record an approval notification: ${(error as Error).message}`));
      if (result.outcome === 'ok') return;
    }
  }

  async #attempt(body: string, messageId: string): Promise<Pick<DeliveryOutcome, 'outcome' | 'reason' | 'note'>> {
    const timeout = AbortSignal.timeout(this.#timeoutMs);
    try {
      const response = await fetch(this.#url, {
        method: 'POST', body, redirect: 'manual', signal: AbortSignal.any([timeout, this.#closing.signal]),
        headers: { 'content-type': 'application/json', 'user-agent': 'Mandate', ...webhookHeaders(this.#key, messageId, Math.floor(Date.now() / 1000), body) },
      });
      await response.body?.cancel().catch(() => undefined);
      if (response.status >= 200 && response.status < 300) return { outcome: 'ok', reason: null, note: `HTTP ${response.status}` };
      return { outcome: 'error', reason: 'webhook_http_error', note: `HTTP ${response.status}` };
    } catch (error) {
      if (timeout.aborted) return { outcome: 'error', reason: 'webhook_timeout', note: `no answer within ${this.#timeoutMs} ms` };
      const cause = (error as Error).cause instanceof Error ? ((error as Error).cause as Error).message : (error as Error).message;
      return { outcome: 'error', reason: 'webhook_unreachable', note: cause };
    }
  }

  /** Waits, unless closing: answers whether to go on. */
  #pause(ms: number): Promise<boolean> {
    const closing = this.#closing.signal;
    if (closing.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        closing.removeEventListener('abort', stop);
        resolve(true);
      }, ms);
      // A retry waiting keeps nothing running: a process that ends drops it.
      timer.unref();
      const stop = (): void => {
        clearTimeout(timer);
        resolve(false);
      };
      closing.addEventListener('abort', stop, { once: true });
    });
  }
}
