// The approval step both enforcement points take (the MCP gateway and the HTTP API
// proxy) for a request denied only by approval policies: use an approval of exactly
// it, if one was given, or ask for one and word the refusal that names it.
import { approvedBy, type Approvals } from '../approvals/approvals.ts';
import { actionDigest, type ActionBinding, type Approval } from '../approvals/types.ts';
import { APPROVAL_REQUIRED, liftedEngine, type NeedsApproval } from '../policy/approval-decision.ts';
import type { AuthorizationRequest, PolicyEngine } from '../policy/engine.ts';
import { entityValue } from '../policy/entities.ts';

/** What an approval given for the request came to: it lets the request through, or why it no longer suffices. */
export type HeldApproval =
  | { allowed: true; approval: Approval; policies: string[]; policySetHash: string }
  | { allowed: false; approval: Approval; message: string };

/**
 * Takes one use of an approval of exactly this request, if there is one. Its approver
 * must be one the policies name now (the set may have changed since), and the request
 * is then decided by the set without its approval policies, the approver in
 * `context.approvals`: it must still be allowed. Null: no approval to use.
 */
export async function useApproval(approvals: Approvals, engine: PolicyEngine, asked: AuthorizationRequest, need: NeedsApproval, binding: ActionBinding, now: number): Promise<HeldApproval | null> {
  const held = await approvals.consume(actionDigest(binding), now);
  if (!held) return null;
  const approver = approvedBy(held);
  const lifted = approver !== null && await approvals.satisfies(held, need.approvers)
    ? liftedEngine(engine).decide({ ...asked, context: { ...asked.context, approvals: [entityValue('Person', approver)] } })
    : null;
  if (lifted?.decision === 'allow') return { allowed: true, approval: held, policies: lifted.policies, policySetHash: lifted.policySetHash };
  const why = lifted ? `the policies still deny it (${lifted.policies.join(', ') || 'no permit'})` : `${approver ?? 'its approver'} is not among those ${need.policies.join(', ')} name now`;
  return { allowed: false, approval: held, message: `denied: approval ${held.id} no longer suffices: ${why}` };
}

/** The refusal of a request whose approval was denied. */
export const APPROVAL_DENIED = 'approval_denied';

/** A refusal of the request its approval's denial stands for: who denied it, why, and until when the same request is refused without asking. */
export function deniedRefusal(approvals: Approvals, approval: Approval, what: string, noun: string, policies: string[]): ApprovalAsked['refusal'] {
  const until = new Date(approvals.quietUntil(approval) * 1000).toISOString();
  return {
    allow: false, code: APPROVAL_DENIED,
    message: `denied: ${what} was denied${approval.decidedBy ? ` by ${approval.decidedBy}` : ''}${approval.note ? ` (${approval.note})` : ''} (approval ${approval.id}); exactly this ${noun} is refused without asking again until ${until}`,
    data: { approval: approval.id, url: approvals.url(approval.id), page: approvals.page(approval.id), policies, retry_after: until },
  };
}

/** The approval asked for (pending; or denied a moment ago), and the refusal that tells the agent about it. */
export interface ApprovalAsked {
  approval: Approval;
  refusal: { allow: false; code: string; message: string; data: Record<string, unknown> };
}

/**
 * Asks for (or finds the pending) approval of exactly this request, and words the
 * refusal: `what` names the request (`fs/delete_file`, `POST /payments on billing`),
 * `noun` what the agent makes again once approved (call, request).
 */
export async function askApproval(approvals: Approvals, binding: ActionBinding, initiator: string, need: NeedsApproval, preview: unknown, now: number, what: string, noun: string): Promise<ApprovalAsked> {
  const { approval } = await approvals.request({ binding, initiator, approvers: need.approvers, policies: need.policies, preview }, now);
  const url = approvals.url(approval.id);
  const page = approvals.page(approval.id);
  if (approval.state === 'denied') return { approval, refusal: deniedRefusal(approvals, approval, what, noun, need.policies) };
  const who = await approvals.describeApprovers(approval);
  return {
    approval,
    refusal: {
      allow: false, code: APPROVAL_REQUIRED,
      message: `denied: ${what} needs approval by ${who} (${need.policies.join(', ')}): approval ${approval.id} is waiting at ${page}; once approved, make exactly the same ${noun} again`,
      data: { approval: approval.id, url, page, approvers: approval.approvers, policies: need.policies, expires_at: new Date(approval.expiresAt * 1000).toISOString() },
    },
  };
}
