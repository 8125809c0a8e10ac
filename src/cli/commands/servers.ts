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

/** `--lease postgres` (the libpq variables) or `--lease postgres:VARIABLE` (the lease URL in VARIABLE). */
function parseLease(value: string | undefined): { provider: 'postgres'; env?: string } | undefined {
  if (value === undefined) return undefined;
  const [provider, env, ...rest] = value.split(':');
  if (provider !== 'postgres' || rest.length > 0 || env === '') throw new MandateError('usage', '--lease is postgres or postgres:VARIABLE');
  return env === undefined ? { provider } : { provider, env };
}

export const serverCommands: Command[] = [
  {
    words: ['server', 'add'], usage: 'mandate server add <name> (--url URL [--kind mcp|http-api] | --command "CMD ARGS" [--lease postgres[:VARIABLE]]) [--environment dev|staging|prod] [--tool NAME=sensitivity,effect,egress]...',
    summary: 'register an upstream MCP server (or, --kind http-api, an HTTP API for /proxy/<name>); unlabelled tools get confidential,write,external',
    details: [
      '--lease postgres            each session\'s process gets its mandate\'s own PostgreSQL role (one per mandate, dropped when the mandate ends)',
      '                            in the libpq variables PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD, PGSSLMODE: give the server',
      '                            "postgres://" as its connection string, e.g. --command "mcp-server-postgres postgres://"',
      '--lease postgres:VARIABLE   the role\'s connection URL (with its password) in VARIABLE instead',
      'the PostgreSQL role provider is configured by MANDATE_PG_ADMIN_URL, MANDATE_PG_DATABASE, MANDATE_PG_GRANTS, MANDATE_PG_ROLE_PREFIX',
    ],
    options: { url: { type: 'string' }, kind: { type: 'string' }, command: { type: 'string' }, lease: { type: 'string' }, environment: { type: 'string' }, tool: { type: 'string', multiple: true } },
    run: async (parsed, { api, out }) => {
      const url = optional(parsed, 'url');
      const command = optional(parsed, 'command');
      if ((url === undefined) === (command === undefined)) throw new MandateError('usage', 'give exactly one of --url and --command');
      const words = command === undefined ? [] : splitCommand(command);
      const tools = ((parsed.values.tool as string[] | undefined) ?? []).map(parseToolSpec);
      const environment = optional(parsed, 'environment');
      const kind = optional(parsed, 'kind');
      if (kind !== undefined && kind !== 'mcp' && kind !== 'http-api') throw new MandateError('usage', '--kind is mcp or http-api');
      const lease = parseLease(optional(parsed, 'lease'));
      if (lease !== undefined && command === undefined) throw new MandateError('usage', '--lease goes with --command: a lease is given to a stdio server, in its environment');
      const body = {
        name: positional(parsed, 0, 'the server name'),
        ...(url !== undefined ? { url, ...(kind !== undefined ? { kind } : {}) } : { command: words[0], args: words.slice(1), ...(lease !== undefined ? { lease } : {}) }),
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
