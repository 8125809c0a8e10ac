import { optional, positional } from '../args.ts';
import type { Command } from '../context.ts';

const columns = ['id', 'status', 'email', 'name', 'issuer'];

export const peopleCommands: Command[] = [
  {
    words: ['user', 'add'], usage: 'mandate user add <id> [--email E] [--name N]', summary: 'add a person to the embedded directory',
    options: { email: { type: 'string' }, name: { type: 'string' } },
    run: async (parsed, { api, out }) => {
      const body = { id: positional(parsed, 0, 'the user id'), email: optional(parsed, 'email'), name: optional(parsed, 'name') };
      out.record(await (await api()).request('POST', '/api/v1/users', body));
    },
  },
  {
    words: ['user', 'list'], usage: 'mandate user list', summary: 'list people',
    run: async (_parsed, { api, out }) => out.table('users', (await (await api()).request<{ users: Array<Record<string, unknown>> }>('GET', '/api/v1/users')).users, columns),
  },
  {
    words: ['user', 'deactivate'], usage: 'mandate user deactivate <id>', summary: 'deactivate a person (their mandates stop working)',
    run: async (parsed, { api, out }) => out.record(await (await api()).request('POST', `/api/v1/users/${encodeURIComponent(positional(parsed, 0, 'the user id'))}/deactivate`)),
  },
  {
    words: ['user', 'activate'], usage: 'mandate user activate <id>', summary: 'reactivate a person',
    run: async (parsed, { api, out }) => out.record(await (await api()).request('POST', `/api/v1/users/${encodeURIComponent(positional(parsed, 0, 'the user id'))}/activate`)),
  },
  {
    words: ['login'], usage: 'mandate login <user-id>', summary: 'a person token (1 h) from the embedded identity provider; prints the token',
    run: async (parsed, { api, out }) => {
      const answer = await (await api()).request<{ token: string; expires_at: string }>('POST', `/api/v1/users/${encodeURIComponent(positional(parsed, 0, 'the user id'))}/login`);
      if (out.json) out.record(answer);
      else process.stdout.write(`${answer.token}\n`);
    },
  },
];
