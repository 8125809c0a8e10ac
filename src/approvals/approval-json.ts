// An approval as the control plane answers it and as a webhook delivers it: the same
// fields in both, snake_case, times in RFC 3339. The preview is already redacted.
import type { Approval, ApproverSpec } from './types.ts';

export interface ApprovalJson {
  id: string;
  url: string;
  /** Where a person sees and decides it in a browser. */
  page: string;
  state: Approval['state'];
  digest: string;
  binding: { server: string; method: string; target: string; arguments_digest: string; mandate_id: string; agent: string };
  initiator: string;
  approvers: ApproverSpec[][];
  policies: string[];
  preview: unknown;
  created_at: string;
  expires_at: string;
  decided_at: string | null;
  decided_by: string | null;
  note: string | null;
  usable_until: string | null;
  repeat_until: string | null;
  max_uses: number;
  uses: number;
  used_at: string | null;
}

const iso = (seconds: number): string => new Date(seconds * 1000).toISOString();
const isoOrNull = (seconds: number | null): string | null => (seconds === null ? null : iso(seconds));

export function approvalJson(a: Approval, url: string, page: string): ApprovalJson {
  const { server, method, target, argumentsDigest, mandateId, agent } = a.binding;
  return {
    id: a.id, url, page, state: a.state, digest: a.digest, binding: { server, method, target, arguments_digest: argumentsDigest, mandate_id: mandateId, agent },
    initiator: a.initiator, approvers: a.approvers, policies: a.policies, preview: a.preview ?? null, created_at: iso(a.createdAt), expires_at: iso(a.expiresAt),
    decided_at: isoOrNull(a.decidedAt), decided_by: a.decidedBy, note: a.note, usable_until: isoOrNull(a.usableUntil), repeat_until: isoOrNull(a.repeatUntil),
    max_uses: a.maxUses, uses: a.uses, used_at: isoOrNull(a.usedAt),
  };
}
