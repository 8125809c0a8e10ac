import { MandateError } from '../../errors.ts';
import { optional, positional, type Parsed } from '../args.ts';
import type { Command } from '../context.ts';
import type { Output } from '../output.ts';

interface ApprovalView {
  id: string; url: string; page: string; state: string; digest: string; initiator: string; approvers: string[][]; policies: string[]; preview: unknown;
  binding: { server: string; method: string; target: string; arguments_digest: string; mandate_id: string; agent: string };
  created_at: string; expires_at: string; decided_at: string | null; decided_by: string | null; note: string | null;
  usable_until: string | null; repeat_until: string | null; max_uses: number; uses: number; used_at: string | null;
}

const agentName = (spiffeId: string): string => spiffeId.replace(/^spiffe:\/\/[^/]+\//, '');
const needs = (approvers: string[][]): string => approvers.map((list) => list.join('|')).join(' & ');

/** One approval for people: what it is for, who asked, who may decide, and where it stands. */
function print(out: Output, a: ApprovalView): void {
  out.record({ ...a }, [
    ['approval', a.id], ['state', a.state],
    ['call', `${a.binding.method} ${a.binding.server}/${a.binding.target}`], ['arguments', a.preview], ['arguments digest', a.binding.arguments_digest],
    ['agent', a.binding.agent], ['mandate', a.binding.mandate_id], ['initiator', a.initiator],
    ['approvers', a.approvers.map((list) => list.join(' or ')).join(', and ')], ['asked by', a.policies],
    ['expires', a.state === 'pending' ? a.expires_at : '-'],
    ...(a.decided_by === null ? [] : [['decided', `${a.decided_at ?? '?'} by ${a.decided_by}${a.note ? `: ${a.note}` : ''}`] as [string, unknown]]),
    ...(a.usable_until === null || a.state === 'denied' ? [] : [['usable until', a.repeat_until ?? a.usable_until] as [string, unknown], ['uses', `${a.uses} of ${a.max_uses}`] as [string, unknown]]),
    ['digest', a.digest], ['decide at', a.page], ['url', a.url],
  ]);
}

const idOf = (parsed: Parsed): string => encodeURIComponent(positional(parsed, 0, 'the approval id'));

export const approvalCommands: Command[] = [
  {
    words: ['approvals', 'list'], usage: 'mandate approvals list [--state pending|approved|denied|expired|used] [--mandate ID]',
    summary: 'approvals you may decide or asked for (the admin: all), newest first',
    options: { state: { type: 'string' }, mandate: { type: 'string' } },
    run: async (parsed, { api, out }) => {
      const query = new URLSearchParams();
      if (optional(parsed, 'state')) query.set('state', optional(parsed, 'state') as string);
      if (optional(parsed, 'mandate')) query.set('mandate', optional(parsed, 'mandate') as string);
      const { approvals } = await (await api()).request<{ approvals: ApprovalView[] }>('GET', `/api/v1/approvals${query.size > 0 ? `?${query}` : ''}`);
      if (out.json) return out.record({ approvals });
      out.table('approvals', approvals.map((a) => ({
        id: a.id, state: a.state, call: `${a.binding.server}/${a.binding.target}`, agent: agentName(a.binding.agent), initiator: a.initiator, approvers: needs(a.approvers),
        until: a.state === 'pending' ? a.expires_at : a.state === 'approved' ? a.repeat_until ?? a.usable_until : a.decided_at,
      })), ['id', 'state', 'call', 'agent', 'initiator', 'approvers', 'until']);
    },
  },
  {
    words: ['approvals', 'show'], usage: 'mandate approvals show <id>', summary: 'one approval: the exact call, who may decide, where it stands',
    run: async (parsed, { api, out }) => print(out, await (await api()).request<ApprovalView>('GET', `/api/v1/approvals/${idOf(parsed)}`)),
  },
  {
    words: ['approvals', 'approve'], usage: 'mandate approvals approve <id> [--for 10m] [--max-uses N] [--note TEXT]',
    summary: 'approve, as an eligible person: the exact call once within the window, or identical calls --for a while (at most --max-uses)',
    options: { for: { type: 'string' }, 'max-uses': { type: 'string' }, note: { type: 'string' } },
    run: async (parsed, { api, out }) => {
      const maxUses = optional(parsed, 'max-uses');
      if (maxUses !== undefined && !/^\d+$/.test(maxUses)) throw new MandateError('usage', '--max-uses must be a whole number');
      const body = { for: optional(parsed, 'for'), max_uses: maxUses === undefined ? undefined : Number(maxUses), note: optional(parsed, 'note') };
      print(out, await (await api()).request<ApprovalView>('POST', `/api/v1/approvals/${idOf(parsed)}/approve`, body));
    },
  },
  {
    words: ['approvals', 'deny'], usage: 'mandate approvals deny <id> [--note TEXT]', summary: 'deny, as an eligible person or the admin: final',
    options: { note: { type: 'string' } },
    run: async (parsed, { api, out }) => print(out, await (await api()).request<ApprovalView>('POST', `/api/v1/approvals/${idOf(parsed)}/deny`, { note: optional(parsed, 'note') })),
  },
];
