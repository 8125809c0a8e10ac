// How CLI verbs reach a running Mandate: MANDATE_URL, authenticated with
// MANDATE_TOKEN (or, on the machine that ran `mandate init`, the admin credential
// in the data directory).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../config.ts';
import { MandateError } from '../errors.ts';
import { ADMIN_TOKEN_FILE } from '../init.ts';

export class ApiClient {
  readonly baseUrl: string;
  readonly #token: string | null;

  constructor(baseUrl: string, token: string | null) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.#token = token;
  }

  static async fromEnvironment(config: Config, env: NodeJS.ProcessEnv = process.env): Promise<ApiClient> {
    const baseUrl = env.MANDATE_URL ?? config.publicUrl;
    let token = env.MANDATE_TOKEN ?? null;
    if (!token) token = await readFile(join(config.dataDir, ADMIN_TOKEN_FILE), 'utf8').then((t) => t.trim(), () => null);
    return new ApiClient(baseUrl, token);
  }

  async request<T = Record<string, unknown>>(method: string, path: string, body?: unknown, options: { auth?: boolean } = {}): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (options.auth !== false) {
      if (!this.#token) throw new MandateError('credential_missing', 'no credential: set MANDATE_TOKEN (a person token from `mandate login`, or the admin credential)');
      headers.authorization = `Bearer ${this.#token}`;
    }
    return this.#send<T>(method, path, { headers, body: body === undefined ? undefined : JSON.stringify(body) });
  }

  async form<T = Record<string, unknown>>(path: string, params: Record<string, string>, headers: Record<string, string> = {}): Promise<T> {
    return this.#send<T>('POST', path, { headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', ...headers }, body: new URLSearchParams(params).toString() });
  }

  async #send<T>(method: string, path: string, init: { headers: Record<string, string>; body: string | undefined }): Promise<T> {
    const url = path.startsWith('http') ? path : `${this.baseUrl}${path}`;
    let response: Response;
    try {
      response = await fetch(url, { method, headers: init.headers, body: init.body, signal: AbortSignal.timeout(30_000) });
    } catch (error) {
      throw new MandateError('server_unreachable', `cannot reach Mandate at ${this.baseUrl} (${(error as Error).cause instanceof Error ? ((error as Error).cause as Error).message : (error as Error).message}); is \`mandate serve\` running? Set MANDATE_URL to point elsewhere`);
    }
    const text = await response.text();
    let payload: Record<string, unknown>;
    try {
      payload = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
      payload = { detail: text };
    }
    if (!response.ok) {
      const code = String(payload.code ?? payload.mandate_error ?? payload.error ?? `http_${response.status}`);
      const message = String(payload.detail ?? payload.error_description ?? payload.error ?? response.statusText);
      throw new MandateError(code, message, { status: response.status });
    }
    return payload as T;
  }
}
