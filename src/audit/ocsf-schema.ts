// The few OCSF values Mandate writes, copied from the schema rather than fetched: an
// export must not depend on a network lookup, and a schema upgrade should be a
// reviewed change. Every number below is from OCSF 1.9.0 (https://schema.ocsf.io/1.9.0/,
// github.com/ocsf/ocsf-schema tag v1.9.0): the class and category uids from
// categories.json and events/*, the enums from dictionary.json and the class files
// named beside each table.

export const OCSF_VERSION = '1.9.0';

/** categories.json */
export const CATEGORY = {
  iam: { uid: 3, name: 'Identity & Access Management' },
  application: { uid: 6, name: 'Application Activity' },
} as const;

/** class_uid = category_uid × 1000 + the class's own uid (events/iam/authentication.json: 2, events/application/api_activity.json: 3). */
export const CLASS = {
  authentication: { uid: 3002, name: 'Authentication', category: CATEGORY.iam },
  apiActivity: { uid: 6003, name: 'API Activity', category: CATEGORY.application },
} as const;

/** activity_id of API Activity (events/application/api_activity.json; 0 and 99 from base_event). */
export const API_ACTIVITY = {
  unknown: { id: 0, name: 'Unknown' },
  create: { id: 1, name: 'Create' },
  read: { id: 2, name: 'Read' },
  update: { id: 3, name: 'Update' },
  delete: { id: 4, name: 'Delete' },
  other: { id: 99, name: 'Other' },
} as const;

/** activity_id of Authentication (events/iam/authentication.json). */
export const AUTHENTICATION_ACTIVITY = {
  logon: { id: 1, name: 'Logon' },
  /** A task token asked for at the token endpoint: a ticket for one service (the gateway resource). */
  serviceTicketRequest: { id: 4, name: 'Service Ticket Request' },
} as const;

/** severity_id (dictionary.json). */
export const SEVERITY = {
  informational: { id: 1, name: 'Informational' },
  low: { id: 2, name: 'Low' },
  medium: { id: 3, name: 'Medium' },
} as const;

/** status_id (dictionary.json). */
export const STATUS = {
  unknown: { id: 0, name: 'Unknown' },
  success: { id: 1, name: 'Success' },
  failure: { id: 2, name: 'Failure' },
} as const;

/** action_id of the security_control profile (profiles/security_control.json). */
export const ACTION = {
  allowed: { id: 1, name: 'Allowed' },
  denied: { id: 2, name: 'Denied' },
} as const;

/** disposition_id (dictionary.json). */
export const DISPOSITION = {
  allowed: { id: 1, name: 'Allowed' },
  blocked: { id: 2, name: 'Blocked' },
  unauthorized: { id: 26, name: 'Unauthorized' },
  error: { id: 27, name: 'Error' },
} as const;

/** user.type_id (objects/user.json). */
export const USER_TYPE = {
  unknown: { id: 0, name: 'Unknown' },
  user: { id: 1, name: 'User' },
  admin: { id: 2, name: 'Admin' },
  other: { id: 99, name: 'Other' },
} as const;

/** auth_protocol_id (dictionary.json): a task token is an OAuth 2.0 access token. */
export const AUTH_PROTOCOL_OAUTH2 = { id: 6, name: 'OAUTH 2.0' } as const;
