import { MandateError } from '../../errors.ts';
import { optional } from '../args.ts';
import type { Command } from '../context.ts';

interface EventView {
  seq: number; time: string; kind: string; server: string; person: string | null; agents: string[]; mandate: string | null;
  method?: string | null; tool: string | null; decision: string | null; reason: string | null; outcome: string | null; latency_ms: number | null;
  shadow?: { decision: string; policies: string[] } | null;
  /** Of an AuthZEN evaluation: who asked, and about what. */
  caller?: string | null; subject?: string | null; resource?: string | null;
  /** Of an approval event: the approval it is a step of; of a decision, the approval it used or asked for. */
  approval?: string | null;
  /** Of a revocation: the mandates it ended, and how many in all when more than it lists. */
  mandates?: string[] | null; total?: number | null;
}

/** One line a person can read: when, who (person ← agent), what, and what came of it. */
export function describeEvent(e: EventView): string {
  if (e.kind === 'revocation') {
    const ended = e.total ?? e.mandates?.length ?? 0;
    const what = e.method === 'credential/revoke' ? `${e.server}  ${e.method}` : `${e.subject ?? '?'}  ${e.method ?? '?'}`;
    return `#${e.seq}  ${e.time}  ${e.kind.padEnd(14)}  ${e.caller ?? '?'}  ${what}${e.reason ? ` (${e.reason})` : ''}: ${e.outcome ?? '?'}${e.method === 'credential/revoke' ? '' : `, ${ended} mandate${ended === 1 ? '' : 's'} ended`}${e.mandate ? `  [${e.mandate}]` : ''}`;
  }
  const evaluation = e.kind === 'evaluation';
  const who = evaluation ? `${e.caller ?? '?'} asks` : e.kind === 'approval' ? e.caller ?? '?' : e.person ? `${e.person} ← ${e.agents[0]?.replace(/^spiffe:\/\/[^/]+\//, '') ?? '?'}` : 'unauthenticated';
  const what = evaluation ? `${e.subject ?? '?'} ${e.method ?? '?'} ${e.resource ?? '?'}` : e.tool ? `${e.server}/${e.tool}` : `${e.server}`;
  const result = e.kind === 'result' ? `${e.outcome ?? '?'}${e.latency_ms === null ? '' : ` in ${e.latency_ms} ms`}`
    : e.kind === 'approval' ? `${e.method ?? '?'} ${e.outcome ?? '?'}${e.reason ? ` (${e.reason})` : ''}${e.approval ? ` ${e.approval}` : ''}`
    : `${e.decision ?? '?'}${e.reason ? ` (${e.reason})` : ''}${e.approval ? ` with ${e.approval}` : ''}`;
  // A shadow decision is what the set would decide with its shadow policies enforced: shown, never enforced.
  const shadow = e.shadow ? `  (shadow: ${e.shadow.decision}${e.shadow.policies.length > 0 ? ` by ${e.shadow.policies.join(', ')}` : ''})` : '';
  return `#${e.seq}  ${e.time}  ${e.kind.padEnd(14)}  ${who}  ${what}  ${result}${shadow}${e.mandate ? `  [${e.mandate}]` : ''}`;
}

export const auditCommands: Command[] = [
  {
    words: ['audit', 'tail'], usage: 'mandate audit tail [--limit N]', summary: 'the latest audit events, readably',
    options: { limit: { type: 'string' } },
    run: async (parsed, { api, out }) => {
      const limit = optional(parsed, 'limit') ?? '20';
      if (!/^\d+$/.test(limit)) throw new MandateError('usage', '--limit must be a whole number');
      const { events } = await (await api()).request<{ events: EventView[] }>('GET', `/api/v1/audit/events?limit=${limit}`);
      if (out.json) out.record({ events });
      else if (events.length === 0) out.note('no audit events yet');
      else for (const e of events) out.note(describeEvent(e));
    },
  },
];
