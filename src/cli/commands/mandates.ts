import { parseDuration } from '../../config.ts';
import { MandateError } from '../../errors.ts';
import { optional, positional, required } from '../args.ts';
import type { Command } from '../context.ts';

const columns = ['id', 'agent_id', 'grantor', 'state', 'expires_at', 'calls_used', 'max_calls', 'scope'];

export const mandateCommands: Command[] = [
  {
    words: ['grant'], usage: 'mandate grant --agent <id> --purpose TEXT --allow <server>/<tool>[,...] [--ttl 15m] [--max-calls N]',
    summary: 'grant a mandate as the person in MANDATE_TOKEN; prints the mandate id and mandate token',
    options: { agent: { type: 'string' }, purpose: { type: 'string' }, allow: { type: 'string', multiple: true }, ttl: { type: 'string' }, 'max-calls': { type: 'string' } },
    run: async (parsed, { api, out }) => {
      const allow = ((parsed.values.allow as string[] | undefined) ?? []).flatMap((a) => a.split(',')).map((a) => a.trim()).filter((a) => a.length > 0);
      if (allow.length === 0) throw new MandateError('usage', '--allow is required (e.g. --allow fs/read_file,fs/list_directory)');
      const ttl = optional(parsed, 'ttl');
      const maxCalls = optional(parsed, 'max-calls');
      if (maxCalls !== undefined && !/^\d+$/.test(maxCalls)) throw new MandateError('usage', '--max-calls must be a whole number');
      const body = { agent: required(parsed, 'agent'), purpose: required(parsed, 'purpose'), allow, ttl: ttl === undefined ? undefined : parseDuration(ttl), max_calls: maxCalls === undefined ? undefined : Number(maxCalls) };
      const answer = await (await api()).request<{ mandate: Record<string, unknown>; mandate_token: string; decision: { policies: string[] } }>('POST', '/api/v1/mandates', body);
      out.record(answer, [
        ['mandate', answer.mandate.id], ['agent', answer.mandate.agent_id], ['scope', answer.mandate.scope], ['expires', answer.mandate.expires_at],
        ['max calls', answer.mandate.max_calls ?? 'unlimited'], ['allowed by', answer.decision.policies], ['mandate token', answer.mandate_token],
      ]);
    },
  },
  {
    words: ['revoke'], usage: 'mandate revoke <mandate-id | agent-id | user-id> | --server NAME | --all  [--reason R]',
    summary: 'revoke a mandate, every mandate an agent holds or a person granted, every mandate on a server, or all (kill switch) — with everything delegated below',
    options: { reason: { type: 'string' }, server: { type: 'string' }, all: { type: 'boolean' } },
    run: async (parsed, { api, out }) => {
      const server = optional(parsed, 'server');
      const all = parsed.values.all === true;
      const target = server === undefined && !all ? positional(parsed, 0, 'what to revoke (an id, --server NAME or --all)') : undefined;
      if ([target !== undefined, server !== undefined, all].filter(Boolean).length !== 1 || (target === undefined && parsed.positionals.length > 0)) {
        throw new MandateError('usage', 'give one of: an id, --server NAME, --all');
      }
      const answer = await (await api()).request<{ target: string; kind: string; revoked: string[] }>('POST', '/api/v1/revocations', { target, server, all: all || undefined, reason: optional(parsed, 'reason') });
      out.record(answer, [['target', `${answer.kind} ${answer.target}`], ['revoked', answer.revoked.length > 0 ? answer.revoked : 'no active mandates']]);
    },
  },
  {
    words: ['complete'], usage: 'mandate complete <mandate-id>', summary: 'mark a mandate\'s task complete; its authority ends',
    options: { reason: { type: 'string' } },
    run: async (parsed, { api, out }) => out.record(await (await api()).request('POST', `/api/v1/mandates/${encodeURIComponent(positional(parsed, 0, 'the mandate id'))}/complete`, { reason: optional(parsed, 'reason') })),
  },
  {
    words: ['mandate', 'list'], usage: 'mandate mandate list [--agent ID] [--state active|completed|revoked|expired]', summary: 'list mandates',
    options: { agent: { type: 'string' }, state: { type: 'string' } },
    run: async (parsed, { api, out }) => {
      const query = new URLSearchParams();
      if (optional(parsed, 'agent')) query.set('agent', optional(parsed, 'agent') as string);
      if (optional(parsed, 'state')) query.set('state', optional(parsed, 'state') as string);
      const { mandates } = await (await api()).request<{ mandates: Array<Record<string, unknown>> }>('GET', `/api/v1/mandates${query.size > 0 ? `?${query}` : ''}`);
      out.table('mandates', mandates, columns);
    },
  },
  {
    words: ['mandate', 'show'], usage: 'mandate mandate show <id>', summary: 'show one mandate',
    run: async (parsed, { api, out }) => out.record(await (await api()).request('GET', `/api/v1/mandates/${encodeURIComponent(positional(parsed, 0, 'the mandate id'))}`)),
  },
];
