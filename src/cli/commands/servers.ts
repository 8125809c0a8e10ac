import { parseToolSpec } from '../../catalog/servers.ts';
import { MandateError } from '../../errors.ts';
import { optional, positional } from '../args.ts';
import type { Command } from '../context.ts';

/** Splits a command line on spaces, honouring simple single and double quotes. */
export function splitCommand(line: string): string[] {
  const words: string[] = [];
  const pattern = /"([^"]*)"|'([^']*)'|(\S+)/g;
  for (const m of line.matchAll(pattern)) words.push(m[1] ?? m[2] ?? m[3] ?? '');
  return words;
}

export const serverCommands: Command[] = [
  {
    words: ['server', 'add'], usage: 'mandate server add <name> (--url URL [--kind mcp|http-api] | --command "CMD ARGS") [--environment dev|staging|prod] [--tool NAME=sensitivity,effect,egress]...',
    summary: 'register an upstream MCP server (or, --kind http-api, an HTTP API for /proxy/<name>); unlabelled tools get confidential,write,external',
    options: { url: { type: 'string' }, kind: { type: 'string' }, command: { type: 'string' }, environment: { type: 'string' }, tool: { type: 'string', multiple: true } },
    run: async (parsed, { api, out }) => {
      const url = optional(parsed, 'url');
      const command = optional(parsed, 'command');
      if ((url === undefined) === (command === undefined)) throw new MandateError('usage', 'give exactly one of --url and --command');
      const words = command === undefined ? [] : splitCommand(command);
      const tools = ((parsed.values.tool as string[] | undefined) ?? []).map(parseToolSpec);
      const environment = optional(parsed, 'environment');
      const kind = optional(parsed, 'kind');
      if (kind !== undefined && kind !== 'mcp' && kind !== 'http-api') throw new MandateError('usage', '--kind is mcp or http-api');
      const body = {
        name: positional(parsed, 0, 'the server name'), ...(url !== undefined ? { url, ...(kind !== undefined ? { kind } : {}) } : { command: words[0], args: words.slice(1) }),
        ...(environment !== undefined ? { environment } : {}), tools,
      };
      const answer = await (await api()).request<Record<string, unknown> & { tools: Array<Record<string, unknown>> }>('POST', '/api/v1/servers', body);
      out.record(answer, [['name', answer.name], ['resource', answer.resource], ['upstream', answer.upstream], ['environment', answer.environment ?? 'any'], ...answer.tools.map((t): [string, unknown] => [`tool ${String(t.name)}`, `${String(t.sensitivity)},${String(t.effect)},${String(t.egress)}`])]);
    },
  },
  {
    words: ['server', 'list'], usage: 'mandate server list', summary: 'list upstream servers',
    run: async (_parsed, { api, out }) => {
      const { servers } = await (await api()).request<{ servers: Array<Record<string, unknown> & { tools: unknown[] }> }>('GET', '/api/v1/servers');
      out.table('servers', servers.map((s) => ({ ...s, tools: s.tools.length })), ['name', 'resource', 'tools']);
    },
  },
];
