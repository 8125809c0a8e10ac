// Asking the person whose task it is, directly at the agent's MCP client, when the
// client takes URL-mode elicitation (MCP revision 2025-11-25), for one session:
//
// - a held request sends the client `elicitation/create` (mode `url`) for the approval
//   page, on that request's answer stream; its person declining (or dismissing it)
//   ends the hold at once; once the hold ends by a decision the client is told the
//   elicitation is complete, and an elicitation still unanswered is withdrawn;
// - a request refused at once is answered with URLElicitationRequiredError (-32042)
//   naming the page; the approval is watched, and the client is told on the session's
//   stream once it is decided, so it can make the request again.
//
// The client's answer is never a decision: it speaks for the agent, and an agent never
// approves. Only the page decides.
import { randomUUID } from 'node:crypto';
import type { ElicitationStep } from '../approvals/approvals.ts';
import type { JsonRpcMessage, RequestId } from './streamable-http.ts';

/** How the gateway would ask the person about one approval (none: they may not decide it). */
export interface AskPerson {
  /** The approval asked for. */
  approval: string;
  url: string;
  message: string;
  /** Told that the elicitation was sent, and of the client's answer (to record them). */
  record: (step: ElicitationStep) => void;
  /** Resolves once the approval is decided (true), or it expired or `signal` aborted (false). */
  decided: (signal: AbortSignal) => Promise<boolean>;
}

/** URLElicitationRequiredError (MCP 2025-11-25): the request can be made once the elicitation is complete. */
export const URL_ELICITATION_REQUIRED = -32042;

/** The abort reason of a hold its person declined at the client. */
export const DECLINED = Symbol('declined at the client');

/** Sends a message to the client, on the answer of `related` when given, else on the session's stream. */
type Send = (message: JsonRpcMessage, related?: RequestId) => void;

interface Sent {
  held: RequestId;
  elicitationId: string;
  controller: AbortController;
  answered: boolean;
  record: AskPerson['record'];
}

export class PersonElicitation {
  readonly #send: Send;
  /** Whether the client declared URL-mode elicitation when it initialized. */
  #takesUrl = false;
  /** Elicitations sent for held requests, by the id of their `elicitation/create` request. */
  readonly #sent = new Map<RequestId, Sent>();
  /** Approvals a refusal named, by id: watched to tell the client when they are decided. */
  readonly #watched = new Map<string, { elicitationId: string; controller: AbortController }>();
  #closed = false;

  constructor(send: Send) {
    this.#send = send;
  }

  /** Reads the client's capabilities from its `initialize` request. */
  initialized(params: Record<string, unknown> | undefined): void {
    const elicitation = (params?.capabilities as { elicitation?: unknown } | undefined)?.elicitation;
    this.#takesUrl = typeof elicitation === 'object' && elicitation !== null && typeof (elicitation as { url?: unknown }).url === 'object';
  }

  /** Whether the person can be asked this way. */
  available(ask: AskPerson | undefined): ask is AskPerson {
    return ask !== undefined && this.#takesUrl && !this.#closed;
  }

  /** Takes the client's answer to an elicitation of ours; false: the answer is to something else. */
  answered(message: JsonRpcMessage): boolean {
    const sent = message.method === undefined && message.id !== undefined ? this.#sent.get(message.id) : undefined;
    if (!sent) return false;
    sent.answered = true;
    const action = message.result?.action;
    sent.record(action === 'accept' || action === 'decline' || action === 'cancel' ? action : 'error');
    if (action === 'decline' || action === 'cancel') sent.controller.abort(DECLINED);
    return true;
  }

  /** Asks about a held request, on its answer; `controller` aborts with DECLINED if they decline. The returned id ends it. */
  hold(held: RequestId, ask: AskPerson, controller: AbortController): RequestId {
    const requestId = `mandate-elicitation-${randomUUID()}`;
    const elicitationId = randomUUID();
    this.#sent.set(requestId, { held, elicitationId, controller, answered: false, record: ask.record });
    this.#send({ jsonrpc: '2.0', id: requestId, method: 'elicitation/create', params: { mode: 'url', elicitationId, url: ask.url, message: ask.message } }, held);
    ask.record('sent');
    return requestId;
  }

  /** The hold is over: an unanswered elicitation is withdrawn; `decided`: the client is told it is complete. */
  holdEnded(requestId: RequestId, decided: boolean): void {
    const sent = this.#sent.get(requestId);
    this.#sent.delete(requestId);
    if (!sent || this.#closed) return;
    if (!sent.answered) this.#send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId, reason: 'the request is no longer held' } }, sent.held);
    else if (decided) this.#send({ jsonrpc: '2.0', method: 'notifications/elicitation/complete', params: { elicitationId: sent.elicitationId } }, sent.held);
  }

  /** The error of a request refused at once: -32042 with the elicitation for the page (one per approval in the session), beside `data`. */
  required(ask: AskPerson, message: string, data: Record<string, unknown>): NonNullable<JsonRpcMessage['error']> {
    const elicitation = { mode: 'url', elicitationId: this.#watch(ask), url: ask.url, message: ask.message };
    ask.record('sent');
    return { code: URL_ELICITATION_REQUIRED, message, data: { elicitations: [elicitation], ...data } };
  }

  close(): void {
    this.#closed = true;
    for (const watched of this.#watched.values()) watched.controller.abort();
  }

  /** The elicitation id of a refusal's approval, watched until it is decided; then the client is told it is complete. */
  #watch(ask: AskPerson): string {
    const known = this.#watched.get(ask.approval);
    if (known) return known.elicitationId;
    const watched = { elicitationId: randomUUID(), controller: new AbortController() };
    this.#watched.set(ask.approval, watched);
    void ask.decided(watched.controller.signal).catch(() => false).then((decided) => {
      this.#watched.delete(ask.approval);
      if (decided && !this.#closed) this.#send({ jsonrpc: '2.0', method: 'notifications/elicitation/complete', params: { elicitationId: watched.elicitationId } });
    });
    return watched.elicitationId;
  }
}
