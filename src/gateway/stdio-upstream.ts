// An upstream MCP server run by Mandate as a child process, speaking newline-delimited
// JSON-RPC on stdin/stdout. Mandate supervises it: stderr is captured line by line
// with secrets redacted (its last lines are logged when the process ends
// unexpectedly), a crash fails the requests it left unanswered and restarts the
// process with exponential backoff, replaying the session's initialization so the
// agent's session carries on; too many crashes in a row end the session. Closing ends
// stdin, then SIGTERM, then SIGKILL. The process gets Mandate's environment without
// Mandate's own settings (every MANDATE_* variable: keys, tokens, the PostgreSQL admin
// URL, webhook secrets) and the OpenTelemetry exporter's headers, plus the server's credentials as
// variables when it has any; their values are scrubbed from the stderr lines kept for
// the log.
import { spawn, type ChildProcess } from 'node:child_process';
import { redactText } from '../audit/redact.ts';
import type { JsonRpcMessage, RequestId } from './streamable-http.ts';
import { isRequest, isResponse } from './streamable-http.ts';
import type { CloseOptions, UpstreamConnection } from './upstream.ts';

export interface StdioSpec {
  command: string;
  args: string[];
  /** Variables added to the process's environment (the server's credentials). */
  env?: Readonly<Record<string, string>>;
}

/** Variables of Mandate's environment an upstream process never inherits, besides every MANDATE_* one: the trace exporter's headers (they may carry a token). */
const WITHHELD_VARIABLES = new Set(['OTEL_EXPORTER_OTLP_HEADERS', 'OTEL_EXPORTER_OTLP_TRACES_HEADERS']);
const withheld = (name: string): boolean => name.startsWith('MANDATE_') || WITHHELD_VARIABLES.has(name);

/** The environment of an upstream process: Mandate's own, less its keys, plus what is injected. */
export function upstreamEnvironment(injected: Readonly<Record<string, string>> = {}, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(base)) if (!withheld(name)) env[name] = value;
  return { ...env, ...injected };
}

export interface SupervisionOptions {
  /** First restart delay; doubles per consecutive crash up to `maxDelayMs`. */
  initialDelayMs: number;
  maxDelayMs: number;
  /** Consecutive crashes (without a successful restart in between) before giving up. */
  maxRestarts: number;
  /** How long a closing process gets after stdin ends, and again after SIGTERM. */
  graceMs: number;
  log: (line: string) => void;
  /** Applied to every stderr line kept (before the shape-based redaction): takes out the values injected. */
  scrub?: (line: string) => string;
}

export const DEFAULT_SUPERVISION: SupervisionOptions = {
  initialDelayMs: 100, maxDelayMs: 5_000, maxRestarts: 5, graceMs: 2_000, log: (line) => console.error(line),
};

const STDERR_LINES = 20;
/** Characters kept of one stderr line, after redaction. */
const STDERR_LINE = 1000;
/** Characters kept of a stderr line not yet ended. */
const STDERR_PARTIAL = 64 * 1024;
const MAX_LINE = 16 * 1024 * 1024;
const REPLAY_ID = '__mandate_reinitialize__';

export class StdioUpstream implements UpstreamConnection {
  onmessage?: (message: JsonRpcMessage, relatedRequestId?: RequestId) => void;
  onclose?: () => void;
  readonly #spec: StdioSpec;
  readonly #name: string;
  readonly #options: SupervisionOptions;
  #child: ChildProcess | null = null;
  #state: 'idle' | 'running' | 'restarting' | 'closed' = 'idle';
  #stdout = '';
  readonly #stderr: string[] = [];
  /** Requests sent to the current process and not answered yet. */
  readonly #unanswered = new Set<RequestId>();
  /** Messages waiting for a restarted process to be initialized. */
  #queue: JsonRpcMessage[] = [];
  #initialize: JsonRpcMessage | null = null;
  #initialized = false;
  #crashes = 0;
  #replaying: { resolve: () => void } | null = null;

  constructor(spec: StdioSpec, name: string, options: Partial<SupervisionOptions> = {}) {
    this.#spec = spec;
    this.#name = name;
    this.#options = { ...DEFAULT_SUPERVISION, ...options };
  }

  /** The pid of the current process (for tests and operators). */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  async start(): Promise<void> {
    await this.#spawn();
    this.#state = 'running';
  }

  async send(message: JsonRpcMessage): Promise<void> {
    if (this.#state === 'closed') throw new Error(`the upstream server ${this.#name} is not running`);
    if (message.method === 'initialize' && this.#initialize === null) this.#initialize = message;
    if (message.method === 'notifications/initialized') this.#initialized = true;
    if (this.#state === 'restarting') {
      this.#queue.push(message);
      return;
    }
    this.#write(message);
  }

  async close(options: CloseOptions = {}): Promise<void> {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    const child = this.#child;
    if (child) await stop(child, this.#options.graceMs, options.now ?? false);
    this.onclose?.();
  }

  #write(message: JsonRpcMessage): void {
    if (isRequest(message)) this.#unanswered.add(message.id as RequestId);
    this.#child?.stdin?.write(`${JSON.stringify(message)}\n`);
  }

  #spawn(): Promise<void> {
    return new Promise((resolve, reject) => {
      const child = spawn(this.#spec.command, this.#spec.args, { stdio: ['pipe', 'pipe', 'pipe'], env: upstreamEnvironment(this.#spec.env), windowsHide: true });
      this.#child = child;
      this.#stdout = '';
      // Whole lines only, so a secret split across chunks is redacted whole. Of a line
      // longer than STDERR_PARTIAL only its start is kept (well beyond what is logged).
      let partial = '';
      const flush = (): void => {
        this.#keepStderrLine(partial);
        partial = '';
      };
      child.once('spawn', () => resolve());
      child.once('error', reject);
      child.stdout?.setEncoding('utf8').on('data', (chunk: string) => this.#read(chunk));
      child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
        const lines = (partial + chunk).split('\n');
        partial = (lines.pop() ?? '').slice(0, STDERR_PARTIAL);
        for (const line of lines) this.#keepStderrLine(line);
      });
      child.stderr?.once('end', flush);
      child.stdin?.on('error', () => undefined); // a dead process: seen on 'exit'
      child.once('exit', (code, signal) => {
        if (this.#child !== child || (this.#state !== 'running' && this.#state !== 'restarting')) return;
        flush();
        this.#crashed(child, code, signal ?? undefined);
      });
    });
  }

  /** One line of the process's stderr, among the last STDERR_LINES kept for the log. */
  #keepStderrLine(line: string): void {
    if (!line.trim()) return;
    this.#stderr.push(redactText(this.#options.scrub ? this.#options.scrub(line) : line).text.slice(0, STDERR_LINE));
    if (this.#stderr.length > STDERR_LINES) this.#stderr.shift();
  }

  #read(chunk: string): void {
    this.#stdout += chunk;
    if (this.#stdout.length > MAX_LINE) {
      this.#options.log(`mandate: upstream ${this.#name} wrote a line longer than ${MAX_LINE} bytes; it is dropped`);
      this.#stdout = '';
      return;
    }
    let newline: number;
    while ((newline = this.#stdout.indexOf('\n')) !== -1) {
      const line = this.#stdout.slice(0, newline).trim();
      this.#stdout = this.#stdout.slice(newline + 1);
      if (!line) continue;
      let message: JsonRpcMessage;
      try {
        message = JSON.parse(line) as JsonRpcMessage;
      } catch {
        continue; // not protocol output (a stray print): ignored
      }
      if (typeof message !== 'object' || message === null || message.jsonrpc !== '2.0') continue;
      this.#deliver(message);
    }
  }

  #deliver(message: JsonRpcMessage): void {
    if (isResponse(message)) {
      if (message.id === REPLAY_ID) {
        this.#replaying?.resolve();
        return;
      }
      this.#unanswered.delete(message.id as RequestId);
    }
    this.onmessage?.(message);
  }

  #crashed(child: ChildProcess, code: number | null, detail?: string): void {
    this.#child = null;
    const how = code !== null ? `exited with code ${code}` : `ended (${detail ?? 'unknown'})`;
    const tail = this.#stderr.length ? `; its last stderr lines:\n  ${this.#stderr.join('\n  ')}` : '';
    this.#options.log(`mandate: upstream ${this.#name} (pid ${child.pid ?? '?'}) ${how}${tail}`);
    for (const id of this.#unanswered) {
      this.onmessage?.({ jsonrpc: '2.0', id, error: { code: -32603, message: `the upstream server ${this.#name} ${how} before answering; it is being restarted` } });
    }
    this.#unanswered.clear();
    this.#crashes += 1;
    if (this.#crashes > this.#options.maxRestarts) {
      this.#options.log(`mandate: upstream ${this.#name} crashed ${this.#crashes} times in a row; its session ends`);
      void this.close();
      return;
    }
    this.#state = 'restarting';
    const delay = Math.min(this.#options.maxDelayMs, this.#options.initialDelayMs * 2 ** (this.#crashes - 1));
    setTimeout(() => void this.#restart(), delay).unref();
  }

  async #restart(): Promise<void> {
    if (this.#state !== 'restarting') return;
    let child: ChildProcess | null = null;
    try {
      const spawned = this.#spawn();
      child = this.#child;
      await spawned;
      if (this.#initialize) {
        await new Promise<void>((resolve, reject) => {
          this.#replaying = { resolve };
          this.#child?.stdin?.write(`${JSON.stringify({ ...this.#initialize, id: REPLAY_ID })}\n`);
          setTimeout(() => reject(new Error('no answer to initialize')), 10_000).unref();
        });
        this.#replaying = null;
        if (this.#initialized) this.#child?.stdin?.write(`${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' })}\n`);
      }
    } catch (error) {
      this.#replaying = null;
      if (child && this.#child === child) {
        if (child.pid !== undefined && child.exitCode === null) child.kill('SIGKILL'); // its exit counts as the crash
        else this.#crashed(child, null, (error as Error).message);
      }
      return;
    }
    if (this.#state !== 'restarting') return;
    this.#state = 'running';
    this.#crashes = 0;
    this.#options.log(`mandate: upstream ${this.#name} restarted (pid ${this.#child?.pid ?? '?'})`);
    const queued = this.#queue;
    this.#queue = [];
    for (const message of queued) this.#write(message);
  }
}

/** Stops a child as the MCP stdio transport says: input closed, then SIGTERM, then SIGKILL, each after the grace period; `now`: SIGTERM at once. */
async function stop(child: ChildProcess, graceMs: number, now: boolean): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const within = (ms: number) => Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms).unref())]);
  child.stdin?.end();
  if (!now && await within(graceMs)) return;
  child.kill('SIGTERM');
  if (await within(graceMs)) return;
  child.kill('SIGKILL');
  await exited;
}
