// Mandate's audit events as OCSF records, for a SIEM that reads the Open Cybersecurity
// Schema Framework rather than Mandate's own shape. A governed call, its result and an
// AuthZEN evaluation are API Activity (6003) with the ai_operation profile (the agent
// and the mandate it acted under) and the security_control profile (the decision and
// the policies that made it); a refused task token is Authentication (3002). Each step
// of an approval is API Activity too, on the approval as its resource.
//
// The mapping copies named fields one by one and never spreads the event: what OCSF
// gets is exactly what is listed here, whatever else an event carries. In particular
// the Cedar request a decision was asked (`request`: Mandate's replay record, with the
// arguments' views in its context) never leaves, and of the arguments only the redacted
// copy and the digest do. docs/ocsf.md is the field-by-field table.
import { MandateError } from '../errors.ts';
import { canonicalJson, type StoredAuditEvent } from './event.ts';
import { failureCode } from './failure-code.ts';
import {
  ACTION, API_ACTIVITY, AUTH_PROTOCOL_OAUTH2, AUTHENTICATION_ACTIVITY, CLASS, DISPOSITION, OCSF_VERSION, SEVERITY, STATUS, USER_TYPE,
} from './ocsf-schema.ts';

export interface OcsfOptions {
  /** Mandate's version, for metadata.product.version. */
  productVersion: string;
  /** The audit log's origin (its name in checkpoints, e.g. `audit.example.com/mandate`), for metadata.log_name. */
  origin?: string;
}

/** A caption beside its id, as OCSF pairs them (`severity_id` and `severity`). */
interface Enum { id: number; name: string }

/** An activity: its id and the schema's caption for it, and the name the record gives (Mandate's own for Other). */
interface Activity extends Enum { caption: string }

const activity = (value: Enum, name = value.name): Activity => ({ id: value.id, caption: value.name, name });

export interface OcsfUser { uid?: string; name?: string; type_id: number; type: string }
export interface OcsfEndpoint { uid?: string; name?: string; svc_name?: string }
export interface OcsfPolicy { uid: string; name?: string; is_applied?: boolean }
export interface OcsfAuthorization { decision: 'allow' | 'deny'; policy?: OcsfPolicy }
export interface OcsfResource { uid?: string; name?: string; type: string }

export interface OcsfMetadata {
  product: { name: 'Mandate'; vendor_name: 'Mandate'; version: string };
  version: string;
  /** The event's sequence number in Mandate's audit log, as text. */
  uid: string;
  sequence: number;
  profiles: string[];
  log_name: string;
  correlation_uid?: string;
}

/** What every record has: the base event's classification, occurrence and status. */
interface OcsfBase {
  category_uid: number;
  category_name: string;
  class_uid: number;
  class_name: string;
  activity_id: number;
  activity_name: string;
  type_uid: number;
  type_name: string;
  severity_id: number;
  severity: string;
  time: number;
  time_dt: string;
  timezone_offset: 0;
  status_id: number;
  status: string;
  status_code?: string;
  status_detail?: string;
  message: string;
  metadata: OcsfMetadata;
  /** ai_operation profile */
  ai_agent?: { uid: string };
  delegation?: { uid: string };
  /** security_control profile */
  action_id?: number;
  action?: string;
  disposition_id?: number;
  disposition?: string;
  authorizations?: OcsfAuthorization[];
  policy?: OcsfPolicy;
  src_endpoint?: OcsfEndpoint;
  dst_endpoint?: OcsfEndpoint;
  unmapped: Record<string, unknown>;
}

export interface OcsfApiActivity extends OcsfBase {
  class_uid: 6003;
  actor: { user: OcsfUser };
  api: {
    operation: string;
    service: { name: string };
    request: { uid: string; data?: unknown };
    response?: { error: string };
  };
  src_endpoint: OcsfEndpoint;
  resources?: OcsfResource[];
  duration?: number;
}

export interface OcsfAuthentication extends OcsfBase {
  class_uid: 3002;
  user: OcsfUser;
  service: { name: string };
  auth_protocol_id: number;
  auth_protocol: string;
}

export type OcsfRecord = OcsfApiActivity | OcsfAuthentication;

/**
 * Fields that other parts of Mandate add to audit events: read when they are there,
 * checked for shape, never required.
 */
interface Additions {
  /** The arguments with secrets redacted. */
  arguments: unknown;
  /** The kinds of secret redacted from them. */
  secrets: unknown;
  /** The approval the call waited for, or the approval an approval event is a step of. */
  approval: unknown;
  /** Of an approval event: the digest of the action it is bound to. */
  actionDigest: unknown;
  /** Of an approval event: what the approver said, or what became of a notification. */
  note: unknown;
  /** The credential lease the call used upstream (its id; never the secret). */
  lease: unknown;
  /** The credentials injected into the upstream the call went to, by id (never a secret). */
  credentials: unknown;
  /** Parts left out of an event too long for one ledger entry. */
  omitted: unknown;
}

/** One audit event as an OCSF record; the same event always gives the same record. */
export function toOcsf(event: StoredAuditEvent, options: OcsfOptions): OcsfRecord {
  switch (event.kind) {
    case 'authentication': case 'token': return authentication(event, options);
    case 'decision': case 'result': case 'evaluation': case 'revocation': case 'approval': return apiActivity(event, options);
    default: throw new MandateError('audit_event_unmappable', `audit event ${event.seq} is of kind ${JSON.stringify((event as { kind: unknown }).kind)}, which has no OCSF mapping`);
  }
}

/** One event's record as canonical JSON (sorted keys, so equal records give equal text), without a newline. */
export const ocsfJson = (event: StoredAuditEvent, options: OcsfOptions): string => canonicalJson(toOcsf(event, options));

/** One event as a line of JSON lines, newline-terminated. */
export const ocsfLine = (event: StoredAuditEvent, options: OcsfOptions): string => `${ocsfJson(event, options)}\n`;

/** Events as JSON lines, one record a line, in the order given. */
export function ocsfLines(events: Iterable<StoredAuditEvent>, options: OcsfOptions): string {
  let out = '';
  for (const event of events) out += ocsfLine(event, options);
  return out;
}

/**
 * Streams events as OCSF JSON: `write` gets each record's JSON (no newline) in order,
 * and is awaited when it returns a promise (back-pressure). Resolves to the number written.
 */
export async function writeOcsf(events: AsyncIterable<StoredAuditEvent> | Iterable<StoredAuditEvent>, options: OcsfOptions, write: (json: string) => Promise<void> | void): Promise<number> {
  let written = 0;
  for await (const event of events) {
    await write(ocsfJson(event, options));
    written++;
  }
  return written;
}

function apiActivity(event: StoredAuditEvent, options: OcsfOptions): OcsfApiActivity {
  const args = additions(event).arguments;
  const failure = failureCode(event);
  const evaluation = event.kind === 'evaluation';
  return {
    ...classification(CLASS.apiActivity, apiActivityOf(event), event),
    ...status(event),
    message: messageOf(event),
    metadata: metadata(event, options),
    actor: { user: userOf(event) },
    api: {
      operation: evaluation ? 'evaluation' : event.method ?? 'unknown',
      service: { name: evaluation ? 'AuthZEN' : event.server },
      request: {
        uid: String(event.seq),
        ...(evaluation ? { data: { subject: event.subject, action: { name: event.method }, resource: event.resource } } : args === undefined ? {} : { data: args }),
      },
      ...(failure === null ? {} : { response: { error: failure } }),
    },
    src_endpoint: sourceOf(event),
    ...(event.server === '' ? {} : { dst_endpoint: { svc_name: event.server } }),
    ...resourcesOf(event),
    ...(event.latencyMs === null ? {} : { duration: Math.round(event.latencyMs) }),
    ...aiOperation(event),
    ...securityControl(event),
    unmapped: unmapped(event),
  };
}

function authentication(event: StoredAuditEvent, options: OcsfOptions): OcsfAuthentication {
  return {
    ...classification(CLASS.authentication, activity(event.kind === 'token' ? AUTHENTICATION_ACTIVITY.serviceTicketRequest : AUTHENTICATION_ACTIVITY.logon), event),
    ...status(event),
    message: messageOf(event),
    metadata: metadata(event, options),
    user: userOf(event),
    service: { name: event.server },
    auth_protocol_id: AUTH_PROTOCOL_OAUTH2.id,
    auth_protocol: AUTH_PROTOCOL_OAUTH2.name,
    ...(event.agents[0] === undefined ? {} : { src_endpoint: { uid: event.agents[0] } }),
    ...aiOperation(event),
    ...securityControl(event),
    unmapped: unmapped(event),
  };
}

type Class = (typeof CLASS)[keyof typeof CLASS];

type Classification = Pick<OcsfBase, 'category_uid' | 'category_name' | 'class_name' | 'activity_id' | 'activity_name' | 'type_uid' | 'type_name' | 'severity_id' | 'severity' | 'time' | 'time_dt' | 'timezone_offset'>;

function classification<C extends Class>(cls: C, activity: Activity, event: StoredAuditEvent): Classification & { class_uid: C['uid'] } {
  const severity = severityOf(event);
  return {
    category_uid: cls.category.uid, category_name: cls.category.name,
    class_uid: cls.uid, class_name: cls.name,
    activity_id: activity.id, activity_name: activity.name,
    type_uid: cls.uid * 100 + activity.id, type_name: `${cls.name}: ${activity.caption}`,
    severity_id: severity.id, severity: severity.name,
    time: event.time, time_dt: new Date(event.time).toISOString(), timezone_offset: 0 as const,
  };
}

/**
 * A tool call is Other: whether it creates, changes or deletes anything is the tool's
 * business, and Mandate does not know. Reading a resource, getting a prompt and the
 * listings only read. An AuthZEN evaluation is a question, not an action: Other too.
 */
function apiActivityOf(event: StoredAuditEvent): Activity {
  if (event.kind === 'evaluation') return activity(API_ACTIVITY.other, 'Evaluate');
  // Ending mandates, or revoking a mandate's database role, changes their state: an
  // update of them (api.operation says which: mandate/revoke, mandate/complete,
  // credential/revoke). Outside Other, the name is the schema's caption.
  if (event.kind === 'revocation') return activity(API_ACTIVITY.update);
  // Asking creates an approval; deciding, using and expiring change its state; a notification only tells of it.
  if (event.kind === 'approval') {
    if (event.method === 'approval/request') return activity(API_ACTIVITY.create);
    return event.method === 'approval/notify' ? activity(API_ACTIVITY.other, 'Notify') : activity(API_ACTIVITY.update);
  }
  const method = event.method;
  if (method === null) return activity(API_ACTIVITY.unknown);
  if (method === 'tools/call') return activity(API_ACTIVITY.other, 'Call Tool');
  if (method === 'resources/read' || method === 'prompts/get' || method.endsWith('/list')) return activity(API_ACTIVITY.read);
  return activity(API_ACTIVITY.other, method);
}

/** A refused call or token, or a refused approver, is Medium; a call the upstream failed (or a notification that failed), Low; everything else, Informational. */
function severityOf(event: StoredAuditEvent): Enum {
  if (event.decision === 'deny' && event.kind !== 'evaluation') return SEVERITY.medium;
  if (event.kind === 'approval' && event.outcome === 'denied') return SEVERITY.medium;
  if (event.outcome === 'error') return SEVERITY.low;
  return SEVERITY.informational;
}

function status(event: StoredAuditEvent) {
  const failed = event.decision === 'deny' || event.outcome === 'error' || event.outcome === 'denied';
  const known = failed || event.decision === 'allow' || event.outcome === 'ok';
  const value = failed ? STATUS.failure : known ? STATUS.success : STATUS.unknown;
  const detail = failureCode(event);
  return {
    status_id: value.id, status: value.name,
    ...(event.outcome === null ? {} : { status_code: event.outcome }),
    ...(detail === null ? {} : { status_detail: detail }),
  };
}

function metadata(event: StoredAuditEvent, options: OcsfOptions): OcsfMetadata {
  return {
    product: { name: 'Mandate', vendor_name: 'Mandate', version: options.productVersion },
    version: OCSF_VERSION,
    uid: String(event.seq),
    sequence: event.seq,
    profiles: event.decision === null ? ['ai_operation', 'datetime'] : ['ai_operation', 'datetime', 'security_control'],
    log_name: options.origin ?? 'mandate-audit',
    ...(event.mandate === null ? {} : { correlation_uid: event.mandate }),
  };
}

/** The person the call was made for; with none, who asked (an AuthZEN caller) or nobody known. */
function userOf(event: StoredAuditEvent): OcsfUser {
  if (event.person !== null) return { uid: event.person, type_id: USER_TYPE.user.id, type: USER_TYPE.user.name };
  // The admin denying an approval acts itself, not through the agent whose call it was.
  if (event.kind === 'approval' && event.caller === 'admin') return { name: 'admin', type_id: USER_TYPE.admin.id, type: USER_TYPE.admin.name };
  const agent = event.agents[0];
  if (agent !== undefined) return { uid: agent, type_id: USER_TYPE.other.id, type: 'AI Agent' };
  if (event.caller === 'admin') return { name: 'admin', type_id: USER_TYPE.admin.id, type: USER_TYPE.admin.name };
  return { name: 'unknown', type_id: USER_TYPE.unknown.id, type: USER_TYPE.unknown.name };
}

/** Mandate records no network address: the calling agent's SPIFFE ID, or the AuthZEN caller's description, stands in. */
function sourceOf(event: StoredAuditEvent): OcsfEndpoint {
  // An approval is decided by a person (or the admin, or the sweep), not by the agent whose call it is.
  if (event.kind === 'approval' && event.caller !== undefined && !event.caller.startsWith('agent ')) return { name: event.caller };
  const agent = event.agents[0];
  if (agent !== undefined) return { uid: agent };
  return { name: event.caller ?? (event.person === null ? 'unknown' : `person ${event.person}`) };
}

function resourcesOf(event: StoredAuditEvent): { resources?: OcsfResource[] } {
  if (event.kind === 'evaluation') {
    if (event.resource === undefined) return {};
    return { resources: [{ uid: event.resource, type: event.resource.split('::')[0] ?? 'unknown' }] };
  }
  if (event.kind === 'approval') {
    const { approval } = additions(event);
    return typeof approval === 'string' ? { resources: [{ uid: approval, ...(event.tool === null ? {} : { name: event.tool }), type: 'approval' }] } : {};
  }
  if (event.tool === null) return {};
  switch (event.method) {
    case 'tools/call': return { resources: [{ uid: `${event.server}/${event.tool}`, name: event.tool, type: 'tool' }] };
    case 'prompts/get': return { resources: [{ uid: `${event.server}/${event.tool}`, name: event.tool, type: 'prompt' }] };
    case 'resources/read': return { resources: [{ uid: event.tool, type: 'resource' }] };
    case 'credential/use': {
      const [id] = strings(additions(event).credentials);
      return { resources: [{ ...(id === undefined ? {} : { uid: id }), name: event.tool, type: 'credential' }] };
    }
    case 'credential/revoke': return { resources: [{ ...(event.receipt ? { uid: event.receipt.role } : {}), name: event.tool, type: 'database role' }] };
    default: return {};
  }
}

/** ai_operation: the acting agent (the chain's current actor) and the mandate as the delegation it acted under. */
function aiOperation(event: StoredAuditEvent): Pick<OcsfBase, 'ai_agent' | 'delegation'> {
  const agent = event.agents[0];
  return {
    ...(agent === undefined ? {} : { ai_agent: { uid: agent } }),
    ...(event.mandate === null ? {} : { delegation: { uid: event.mandate } }),
  };
}

/** security_control: the decision, each determining policy, and the policy set by its hash. */
function securityControl(event: StoredAuditEvent): Pick<OcsfBase, 'action_id' | 'action' | 'disposition_id' | 'disposition' | 'authorizations' | 'policy'> {
  if (event.decision === null) return {};
  const allowed = event.decision === 'allow';
  const disposition = allowed ? DISPOSITION.allowed
    : event.kind === 'authentication' || event.kind === 'token' ? DISPOSITION.blocked
    : event.reason === 'decision_failed' ? DISPOSITION.error
    : DISPOSITION.unauthorized;
  const action = allowed ? ACTION.allowed : ACTION.denied;
  const authorizations: OcsfAuthorization[] = event.policies.length === 0
    ? [{ decision: event.decision }]
    : event.policies.map((id) => ({ decision: event.decision as 'allow' | 'deny', policy: { uid: id, is_applied: true } }));
  return {
    action_id: action.id, action: action.name,
    disposition_id: disposition.id, disposition: disposition.name,
    authorizations,
    ...(event.policySetHash === null ? {} : { policy: { uid: event.policySetHash, name: 'Mandate policy set' } }),
  };
}

/** What OCSF has no attribute for, under Mandate's own names. */
function unmapped(event: StoredAuditEvent): Record<string, unknown> {
  const extra = additions(event);
  const out: Record<string, unknown> = { kind: event.kind, leaf_hash: event.hash };
  if (event.agents.length > 0) out.agents = [...event.agents];
  if (event.purpose !== null) out.purpose = event.purpose;
  if (event.argumentsDigest !== null) out.arguments_digest = event.argumentsDigest;
  if (event.shadow !== undefined) out.shadow = { decision: event.shadow.decision, policies: [...event.shadow.policies], errors: [...event.shadow.errors] };
  if (event.caller !== undefined) out.caller = event.caller;
  if (typeof extra.approval === 'string') out.approval_uid = extra.approval;
  if (typeof extra.actionDigest === 'string') out.action_digest = extra.actionDigest;
  if (typeof extra.note === 'string') out.note = extra.note;
  if (typeof extra.lease === 'string') out.credential_lease_uid = extra.lease;
  if (event.receipt !== undefined) out.credential_receipt = receiptOf(event.receipt);
  const credentials = strings(extra.credentials);
  if (credentials.length > 0) out.credential_uids = credentials;
  const secrets = strings(extra.secrets);
  if (secrets.length > 0) out.secret_kinds = secrets;
  const omitted = strings(extra.omitted);
  if (omitted.length > 0) out.omitted = omitted;
  return out;
}

const additions = (event: StoredAuditEvent): Partial<Additions> => event as Partial<Additions>;

/** A dynamic credential's revocation receipt, field by field. */
function receiptOf(receipt: NonNullable<StoredAuditEvent['receipt']>): Record<string, unknown> {
  return {
    mandate_uid: receipt.mandateId, role: receipt.role, time: receipt.at * 1000, verified: receipt.verified, sessions_terminated: receipt.sessionsTerminated,
    role_existed_before: receipt.roleExistedBefore, role_gone_after: receipt.roleGoneAfter, remaining_sessions: receipt.remainingSessions, checks: [...receipt.checks],
  };
}

/** Each step of an approval: what was done, and (refused) what was attempted. */
const APPROVAL_STEPS: Record<string, [string, string]> = {
  'approval/request': ['asked for', 'ask for'], 'approval/approve': ['approved', 'approve'], 'approval/deny': ['denied', 'deny'],
  'approval/use': ['used', 'use'], 'approval/expire': ['expired', 'expire'],
};

function approvalMessage(event: StoredAuditEvent, why: string): string {
  const what = `approval ${typeof additions(event).approval === 'string' ? String(additions(event).approval) : '?'} of ${event.tool ?? 'a request'} on ${event.server}`;
  if (event.method === 'approval/notify') return `${event.outcome === 'ok' ? 'notified of' : 'could not notify of'} ${what}${why}`;
  const [done, attempted] = APPROVAL_STEPS[event.method ?? ''] ?? ['changed', 'change'];
  return event.outcome === 'denied' ? `${event.caller ?? 'someone'} may not ${attempted} ${what}${why}` : `${event.caller ?? 'someone'} ${done} ${what}${why}`;
}

const strings = (value: unknown): string[] => (Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : []);

function messageOf(event: StoredAuditEvent): string {
  const target = [event.method, event.tool].filter((p) => p !== null).join(' ') || 'a request';
  const why = event.reason === null ? '' : ` (${event.reason})`;
  switch (event.kind) {
    case 'authentication': return `${event.decision === 'allow' ? 'accepted' : 'refused'} a task token at ${event.server}${why}`;
    case 'token': return `${event.decision === 'allow' ? 'issued' : 'refused'} a task token${event.server ? ` for ${event.server}` : ''}${why}`;
    case 'revocation':
      if (event.method === 'credential/revoke') return `revoked ${event.subject ?? 'a dynamic credential'} of mandate ${event.mandate ?? '?'}: ${event.receipt?.verified ? 'verified gone' : 'not verified gone'}${why}`;
      return `${event.caller ?? 'someone'} ${event.method === 'mandate/complete' ? 'completed' : 'revoked'} ${event.subject ?? 'mandates'}: ${event.total ?? event.mandates?.length ?? 0} mandate(s) ended${why}`;
    case 'decision': return `${event.decision === 'allow' ? 'allowed' : 'denied'} ${target} on ${event.server}${why}`;
    case 'result': return `${target} on ${event.server} ended ${event.outcome ?? 'unknown'}${why}`;
    case 'evaluation': return `AuthZEN evaluation for ${event.caller ?? 'an unknown caller'}: ${event.decision ?? 'no decision'} ${event.method ?? 'an action'} on ${event.resource ?? 'a resource'}${why}`;
    case 'approval': return approvalMessage(event, why);
  }
}
