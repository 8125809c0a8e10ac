// The secrets a tool's reply would hand the agent. The gateway reads what an agent
// reads of a tools/call answer — text content, the text of embedded resources, the
// URIs of resource links, structured content, an error's message and data — and names
// the kinds of secret in it (redact.ts); images, audio and blobs are data and are not
// read. A reply carrying a secret by its format may be withheld (the gateway's
// blockSecretReplies); one that only holds a high-entropy token never is: too much
// that is no secret (ids, hashes, encoded data) reads as random to be refused on it.
import { redactText, redactValue, type SecretKind } from '../audit/redact.ts';
import type { JsonRpcMessage } from './streamable-http.ts';

/** The reason code of a reply withheld for the secret it carries. */
export const REPLY_CARRIES_SECRET = 'reply_carries_secret';

/** Whether a reply carrying a secret of `kind` is withheld when blocking is on. */
export const withholds = (kind: SecretKind): boolean => kind !== 'high_entropy';

/** The kinds of secret in the answer to a tools/call, sorted, each once. */
export function secretsInReply(message: JsonRpcMessage): SecretKind[] {
  const found = new Set<SecretKind>();
  const text = (value: unknown): void => {
    if (typeof value === 'string') for (const kind of redactText(value).found) found.add(kind);
  };
  const value = (part: unknown): void => {
    if (part !== undefined) for (const kind of redactValue(part).found) found.add(kind);
  };
  if (message.error) {
    text(message.error.message);
    value(message.error.data);
  }
  const result = message.result;
  if (result) {
    for (const item of Array.isArray(result.content) ? result.content as unknown[] : []) {
      if (typeof item !== 'object' || item === null) continue;
      const part = item as { type?: unknown; text?: unknown; uri?: unknown; resource?: { text?: unknown } };
      if (part.type === 'text') text(part.text);
      else if (part.type === 'resource') text(part.resource?.text);
      else if (part.type === 'resource_link') text(part.uri);
    }
    value(result.structuredContent);
  }
  return [...found].sort();
}
