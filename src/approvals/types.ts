// Approvals: a person's yes or no on one exact action. An approval is bound to the
// digest of what would be done (server, method, target, canonical arguments) and who
// would do it (mandate, agent); it is usable once, within a short window, and only by
// that same action. Denied and expired approvals are final.
import { createHash } from 'node:crypto';
import { canonicalJson } from '../audit/event.ts';

/** The arguments' digest as audit events record it: `sha256:<hex>` of their canonical JSON (RFC 8785). */
export { argumentsDigest } from '../audit/event.ts';

/**
 * Who may approve, as a policy's `@approval("…")` names them:
 * `owner` (the agent's owner), `sponsor` (the agent's sponsor), `initiator` (the person
 * whose mandate it is: the root grantor), or `group:<name>` (any member of a group).
 */
export type ApproverSpec = 'owner' | 'sponsor' | 'initiator' | `group:${string}`;

export const APPROVER_SPEC = /^(owner|sponsor|initiator|group:[a-z0-9][a-z0-9._-]{0,63})$/;

export const isApproverSpec = (value: string): value is ApproverSpec => APPROVER_SPEC.test(value);

/** The exact action an approval is for. */
export interface ActionBinding {
  server: string;
  /** `tools/call`, `prompts/get`, `resources/read` or `http/request`. */
  method: string;
  /** The tool or prompt name, the resource URI, or `<METHOD> <path>` for the HTTP proxy. */
  target: string;
  /** `sha256:<hex>` of the arguments' canonical JSON (`{}` when none): argumentsDigest, as audit events record it. */
  argumentsDigest: string;
  mandateId: string;
  /** The acting agent's SPIFFE ID (the current actor). */
  agent: string;
}

/** The digest an approval is bound to: `sha256:<hex>` over the canonical JSON of the whole binding. */
export function actionDigest(binding: ActionBinding): string {
  const { server, method, target, argumentsDigest: args, mandateId, agent } = binding;
  return `sha256:${createHash('sha256').update(canonicalJson({ server, method, target, argumentsDigest: args, mandateId, agent })).digest('hex')}`;
}

export type ApprovalState = 'pending' | 'approved' | 'denied' | 'expired' | 'used';

export interface Approval {
  /** `apr_…` */
  id: string;
  digest: string;
  binding: ActionBinding;
  /** The person whose authority it is (the mandate's root grantor). */
  initiator: string;
  /**
   * Who may approve it: one list per determining policy, each the alternatives that
   * policy's `@approval` names. The approving person must match one entry of every
   * list (several policies asking means each must be satisfied by the one approval).
   */
  approvers: ApproverSpec[][];
  /** The policies that asked for it. */
  policies: string[];
  /** A redacted, readable copy of the arguments, for the person deciding (never a secret). */
  preview: unknown;
  state: ApprovalState;
  createdAt: number;
  /** A pending approval not decided by then expires. */
  expiresAt: number;
  decidedAt: number | null;
  /** `person <id>` (or `admin`) who approved or denied. */
  decidedBy: string | null;
  /** Why it was approved or denied, as the approver said. */
  note: string | null;
  /** Once approved: the call may be made until then (the window). */
  usableUntil: number | null;
  /** Once approved "for N minutes": identical calls pass until then, at most `maxUses` in all. */
  repeatUntil: number | null;
  maxUses: number;
  uses: number;
  usedAt: number | null;
}

/** Which approvals to list. */
export interface ApprovalFilter {
  state?: ApprovalState;
  mandateId?: string;
  limit?: number;
}
