// What an upstream connection is given of its server's credentials: the headers to add
// to every request, the variables to add to the process it starts, the injected
// values its guard looks for on the way back, and the credentials' ids (what the audit
// events of its requests name — never a secret).
import { InjectedSecrets } from './injected-secrets.ts';

export interface UpstreamInjection {
  /** Added to every request to an HTTP upstream (lower-case names). */
  readonly headers: Readonly<Record<string, string>>;
  /** Added to the environment of a stdio upstream's process. */
  readonly env: Readonly<Record<string, string>>;
  /** The secrets themselves, beside the values that carry them (a header's format around one). */
  readonly secrets: readonly string[];
  /** Finds any of them in what the upstream sends back. */
  readonly guard: InjectedSecrets;
  /** The ids of the credentials injected. */
  readonly credentials: readonly string[];
}

export const NO_INJECTION: UpstreamInjection = Object.freeze({ headers: {}, env: {}, secrets: [], guard: InjectedSecrets.NONE, credentials: [] });
