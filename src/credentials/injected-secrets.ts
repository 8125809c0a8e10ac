// The secrets Mandate injected into one upstream connection, so that nothing the
// upstream sends back carries them on: a tool reply that echoes its environment, an
// API that reflects its request headers, a process that prints its token to stderr.
// Unlike the redactor (audit/redact.ts), which recognises secrets by their shape, this
// knows the exact values, so it finds a credential of any shape — as written, and as
// JSON escapes it once or twice (a reply that quotes a JSON text).
import type { UpstreamInjection } from './lease.ts';

export const CREDENTIAL_MARKER = '[REDACTED:injected_credential]';

const jsonEscaped = (value: string): string => JSON.stringify(value).slice(1, -1);

export class InjectedSecrets {
  /** Every form looked for, longest first (so the longest is replaced whole). */
  readonly #needles: string[];
  readonly #bytes: Buffer[];

  constructor(values: readonly string[]) {
    const forms = new Set<string>();
    for (const value of values) {
      if (value.length === 0) continue;
      forms.add(value);
      forms.add(jsonEscaped(value));
      forms.add(jsonEscaped(jsonEscaped(value)));
    }
    this.#needles = [...forms].sort((a, b) => b.length - a.length);
    this.#bytes = this.#needles.map((n) => Buffer.from(n, 'utf8'));
  }

  static readonly NONE = new InjectedSecrets([]);

  get empty(): boolean {
    return this.#needles.length === 0;
  }

  /** The longest form in bytes: how much of a stream must be held back to find one split across chunks. */
  get longestBytes(): number {
    return this.#bytes.reduce((max, b) => Math.max(max, b.length), 0);
  }

  carries(text: string): boolean {
    return this.#needles.some((needle) => text.includes(needle));
  }

  carriesBytes(chunk: Buffer): boolean {
    return this.#bytes.some((needle) => chunk.includes(needle));
  }

  /** The text with every injected value replaced by a marker. */
  scrub(text: string): string {
    let out = text;
    for (const needle of this.#needles) if (out.includes(needle)) out = out.split(needle).join(CREDENTIAL_MARKER);
    return out;
  }
}

/** What the guard of an injection looks for: each value injected, whole, and each secret inside it. */
export function injectedSecrets(injection: Pick<UpstreamInjection, 'headers' | 'env' | 'secrets'>): InjectedSecrets {
  return new InjectedSecrets([...Object.values(injection.headers), ...Object.values(injection.env), ...injection.secrets]);
}
