// The caller's trace, from a W3C traceparent (https://www.w3.org/TR/trace-context/#traceparent-header):
// what an agent puts in an MCP request's `params._meta.traceparent` (as the OpenTelemetry
// MCP conventions say) or an HTTP `traceparent` header, so the gateway's span joins the
// agent's trace. Anything malformed is no context at all, never an error: a bad header
// from an agent must not fail its call.

export interface TraceContext {
  traceId: string;
  parentSpanId: string;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/** The trace id and parent span id of a traceparent value, or null when it is missing or malformed. */
export function parseTraceparent(value: unknown): TraceContext | null {
  if (typeof value !== 'string') return null;
  const match = TRACEPARENT.exec(value.trim());
  if (match === null) return null;
  const [, version, traceId, parentSpanId, , rest] = match as unknown as [string, string, string, string, string, string | undefined];
  // Version ff is invalid; version 00 has nothing after the flags; a later version may append fields.
  if (version === 'ff' || (version === '00' && rest !== undefined)) return null;
  if (/^0+$/.test(traceId) || /^0+$/.test(parentSpanId)) return null;
  return { traceId, parentSpanId };
}
