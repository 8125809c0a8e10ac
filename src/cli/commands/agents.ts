import { MandateError } from '../../errors.ts';
import { generateAgentKey, removeAgentKey, writeAgentKey } from '../../client/agent-key.ts';
import { optional, positional, required } from '../args.ts';
import type { Command } from '../context.ts';

const columns = ['id', 'name', 'owner', 'environment', 'status', 'enrolled', 'spiffe_id'];

const statusCommand = (verb: 'suspend' | 'retire' | 'activate', summary: string): Command => ({
  words: ['agent', verb], usage: `mandate agent ${verb} <id>`, summary,
  run: async (parsed, { api, out }) => out.record(await (await api()).request('POST', `/api/v1/agents/${encodeURIComponent(positional(parsed, 0, 'the agent id'))}/${verb}`)),
});

export const agentCommands: Command[] = [
  {
    words: ['agent', 'add'], usage: 'mandate agent add <name> --owner <user> --purpose TEXT [--env dev|staging|prod] [--sponsor <user>]',
    summary: 'register an agent; prints its id, SPIFFE ID and a one-time enrollment token',
    options: { owner: { type: 'string' }, purpose: { type: 'string' }, env: { type: 'string' }, sponsor: { type: 'string' } },
    run: async (parsed, { api, out }) => {
      const body = {
        name: positional(parsed, 0, 'the agent name'), owner: required(parsed, 'owner'), purpose: required(parsed, 'purpose'), environment: optional(parsed, 'env'), sponsor: optional(parsed, 'sponsor'),
      };
      const answer = await (await api()).request<{ agent: Record<string, unknown>; enrollment_token: string; enrollment_expires_at: string }>('POST', '/api/v1/agents', body);
      out.record(answer, [
        ['id', answer.agent.id], ['spiffe id', answer.agent.spiffe_id], ['owner', answer.agent.owner], ...(answer.agent.sponsor ? [['sponsor', answer.agent.sponsor] as [string, unknown]] : []),
        ['environment', answer.agent.environment],
        ['enrollment token', answer.enrollment_token], ['token expires', `${answer.enrollment_expires_at} (single use)`],
      ]);
      out.note(`next, on the agent's machine: mandate agent enroll --token ${answer.enrollment_token} --key-file agent-key.json`);
    },
  },
  {
    words: ['agent', 'enroll'], usage: 'mandate agent enroll --token T --key-file FILE',
    summary: 'agent side: make an ES256 key pair (private key file 0600) and register its public half',
    options: { token: { type: 'string' }, 'key-file': { type: 'string' } },
    run: async (parsed, { api, out }) => {
      const token = required(parsed, 'token');
      const file = required(parsed, 'key-file');
      const key = generateAgentKey();
      await writeAgentKey(file, key);
      let agent: Record<string, unknown>;
      try {
        agent = await (await api()).request('POST', '/api/v1/agents/enroll', { enrollment_token: token, jwk: key.publicJwk }, { auth: false });
      } catch (error) {
        await removeAgentKey(file);
        throw error;
      }
      if (typeof agent.spiffe_id !== 'string') throw new MandateError('unexpected_answer', 'the server did not answer a client id');
      await writeAgentKey(file, { ...key, clientId: agent.spiffe_id }, { overwrite: true });
      out.record({ ...agent, key_file: file, kid: key.kid }, [['id', agent.id], ['client id', agent.spiffe_id], ['key id', key.kid], ['key file', `${file} (mode 0600)`]]);
    },
  },
  {
    words: ['agent', 'list'], usage: 'mandate agent list', summary: 'list agents',
    run: async (_parsed, { api, out }) => out.table('agents', (await (await api()).request<{ agents: Array<Record<string, unknown>> }>('GET', '/api/v1/agents')).agents, columns),
  },
  {
    words: ['agent', 'show'], usage: 'mandate agent show <id>', summary: 'show one agent',
    run: async (parsed, { api, out }) => out.record(await (await api()).request('GET', `/api/v1/agents/${encodeURIComponent(positional(parsed, 0, 'the agent id'))}`)),
  },
  statusCommand('suspend', 'suspend an agent (reversible with agent activate)'),
  statusCommand('activate', 'reactivate a suspended agent'),
  statusCommand('retire', 'retire an agent for good; its mandates are revoked'),
];
