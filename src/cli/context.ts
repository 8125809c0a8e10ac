import type { Config } from '../config.ts';
import type { ApiClient } from './api-client.ts';
import type { Options, Parsed } from './args.ts';
import type { Output } from './output.ts';

export interface CommandContext {
  config: Config;
  out: Output;
  env: NodeJS.ProcessEnv;
  api: () => Promise<ApiClient>;
}

export interface Command {
  /** Words after `mandate`, e.g. ['agent', 'add']. */
  words: string[];
  usage: string;
  summary: string;
  /** Lines `--help` shows after the summary (the overview shows the summary only). */
  details?: string[];
  options?: Options;
  run: (parsed: Parsed, ctx: CommandContext) => Promise<void>;
}
