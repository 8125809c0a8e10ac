import { readAgentKey } from '../../client/agent-key.ts';
import { connectToGateway } from '../../client/mcp-client.ts';
import { MandateError } from '../../errors.ts';
import { optional, positional, required } from '../args.ts';
import type { Command } from '../context.ts';

export const callCommands: Command[] = [
  {
    words: ['call'], usage: 'mandate call <server> <tool> [--args JSON] --token TT --key-file FILE',
    summary: 'one MCP tools/call through the gateway, as the agent; prints the result',
    options: { args: { type: 'string' }, token: { type: 'string' }, 'key-file': { type: 'string' } },
    run: async (parsed, { api, out }) => {
      const server = positional(parsed, 0, 'the server name');
      const tool = positional(parsed, 1, 'the tool name');
      let args: Record<string, unknown> = {};
      const raw = optional(parsed, 'args');
      if (raw !== undefined) {
        try {
          args = JSON.parse(raw) as Record<string, unknown>;
        } catch {
          throw new MandateError('usage', '--args must be a JSON object');
        }
        if (typeof args !== 'object' || args === null || Array.isArray(args)) throw new MandateError('usage', '--args must be a JSON object');
      }
      const key = await readAgentKey(required(parsed, 'key-file'));
      const client = await api();
      const { issuer } = await client.request<{ issuer: string }>('GET', '/.well-known/oauth-authorization-server', undefined, { auth: false });
      let mcp;
      try {
        mcp = await connectToGateway(`${issuer}/mcp/${server}`, required(parsed, 'token'), key);
      } catch (error) {
        throw new MandateError('gateway_refused', `the gateway refused the connection: ${(error as Error).message}`);
      }
      try {
        const result = await mcp.callTool({ name: tool, arguments: args });
        if (out.json) out.record(result as Record<string, unknown>);
        else {
          for (const item of (result.content ?? []) as Array<{ type: string; text?: string }>) out.note(item.type === 'text' ? String(item.text) : JSON.stringify(item));
          if (result.isError) throw new MandateError('tool_error', `${server}/${tool} reported an error`);
        }
      } catch (error) {
        if (error instanceof MandateError) throw error;
        const data = (error as { data?: { code?: string } }).data;
        throw new MandateError(data?.code ?? 'call_failed', (error as Error).message.replace(/^MCP error -?\d+: /, ''));
      } finally {
        await mcp.close().catch(() => undefined);
      }
    },
  },
];
