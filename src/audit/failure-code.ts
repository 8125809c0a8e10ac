// The one low-cardinality code of what went wrong with an audited request, for the
// places that need a single value: OCSF's status_detail, OpenTelemetry's error.type.
// A denial carries its own reason code; a result the upstream failed has none.
import type { AuditEvent } from './event.ts';

/** The denial's reason, `upstream_error` for a failed result, `denied` for a denial without a reason; null when nothing failed. */
export function failureCode(event: Pick<AuditEvent, 'decision' | 'outcome' | 'reason'>): string | null {
  if (event.reason !== null) return event.reason;
  if (event.outcome === 'error') return 'upstream_error';
  return event.decision === 'deny' || event.outcome === 'denied' ? 'denied' : null;
}
