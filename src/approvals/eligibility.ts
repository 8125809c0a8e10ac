// Who may decide an approval: a person who matches one entry of every list of its
// approvers (owner: the agent's owner; sponsor: the agent's sponsor; initiator: the
// person whose mandate it is; group:<name>: a member of the group), while active.
import type { Agent, Person } from '../store/types.ts';
import type { Approval, ApproverSpec } from './types.ts';

/** The lists of `approval.approvers` the person matches no entry of (empty: they may decide). */
export function unmet(approval: Approval, person: Person, agent: Agent | null, groups: ReadonlySet<string>): ApproverSpec[][] {
  const matches = (spec: ApproverSpec): boolean => {
    if (spec === 'owner') return agent !== null && agent.owner === person.id;
    if (spec === 'sponsor') return agent !== null && (agent.sponsor ?? null) === person.id;
    if (spec === 'initiator') return approval.initiator === person.id;
    return groups.has(spec.slice('group:'.length));
  };
  if (person.status !== 'active') return approval.approvers;
  return approval.approvers.filter((list) => !list.some(matches));
}

/** Lists of approvers, readably: "the agent's owner (alice) or a member of group ops, and the initiator (bob)". */
export function describeApprovers(lists: readonly ApproverSpec[][], approval: Approval, agent: Agent | null): string {
  return lists.map((list) => list.map((spec) => describeSpec(spec, approval, agent)).join(' or ')).join(', and ');
}

function describeSpec(spec: ApproverSpec, approval: Approval, agent: Agent | null): string {
  if (spec === 'owner') return `the agent's owner (${agent?.owner ?? 'unknown agent'})`;
  if (spec === 'sponsor') return `the agent's sponsor (${agent?.sponsor ?? 'it has none'})`;
  if (spec === 'initiator') return `the initiator (${approval.initiator})`;
  return `a member of group ${spec.slice('group:'.length)}`;
}
