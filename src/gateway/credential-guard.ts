// Keeps an upstream from handing an injected credential to the agent: every message
// it sends is looked through for the exact values injected into it. A response that
// carries one reaches the agent as a refusal instead (JSON-RPC -32003, code
// reply_carries_credential), and the session records the result as withheld; a
// notification or server request that carries one is dropped. Either way only the
// fact is logged, never the value.
import type { InjectedSecrets } from '../credentials/injected-secrets.ts';
import { GATEWAY_DENIED } from './session.ts';
import { isResponse, type JsonRpcMessage, type RequestId } from './streamable-http.ts';
import type { CloseOptions, UpstreamConnection } from './upstream.ts';

export const REPLY_CARRIES_CREDENTIAL = 'reply_carries_credential';

/** Responses the guard put in place of the upstream's: the session records their result as withheld. */
const withheld = new WeakSet<JsonRpcMessage>();

export const withheldByGuard = (message: JsonRpcMessage): boolean => withheld.has(message);

class GuardedUpstream implements UpstreamConnection {
  onmessage?: (message: JsonRpcMessage, relatedRequestId?: RequestId) => void;
  onclose?: () => void;
  readonly #inner: UpstreamConnection;

  constructor(inner: UpstreamConnection, name: string, guard: InjectedSecrets, log: (line: string) => void) {
    this.#inner = inner;
    inner.onclose = () => this.onclose?.();
    inner.onmessage = (message, related) => {
      if (!guard.carries(JSON.stringify(message))) {
        this.onmessage?.(message, related);
        return;
      }
      if (!isResponse(message)) {
        log(`mandate: upstream ${name} sent ${message.method ?? 'a message'} carrying a credential Mandate injected into it; it was dropped`);
        return;
      }
      log(`mandate: upstream ${name} answered request ${String(message.id)} with a credential Mandate injected into it; the answer was withheld`);
      const refusal: JsonRpcMessage = {
        jsonrpc: '2.0', id: message.id as RequestId,
        error: { code: GATEWAY_DENIED, message: `denied: the answer of ${name} carries a credential Mandate injected into it and was withheld`, data: { code: REPLY_CARRIES_CREDENTIAL, server: name } },
      };
      withheld.add(refusal);
      this.onmessage?.(refusal, related);
    };
  }

  start(): Promise<void> {
    return this.#inner.start();
  }

  send(message: JsonRpcMessage): Promise<void> {
    return this.#inner.send(message);
  }

  close(options?: CloseOptions): Promise<void> {
    return this.#inner.close(options);
  }
}

export function guardReplies(inner: UpstreamConnection, name: string, guard: InjectedSecrets, log: (line: string) => void = (line) => console.error(line)): UpstreamConnection {
  return new GuardedUpstream(inner, name, guard, log);
}
