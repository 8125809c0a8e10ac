// One error type for every failure a caller can act on. `code` is stable and appears
// in OAuth error bodies (`mandate_error`), problem+json (`code`) and CLI output;
// `status` is the HTTP status a REST or OAuth endpoint answers with.

export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'invalid_target'
  | 'invalid_scope'
  | 'invalid_dpop_proof'
  | 'unsupported_grant_type'
  | 'unauthorized_client'
  | 'invalid_token'
  | 'access_denied'
  | 'server_error';

export class MandateError extends Error {
  readonly code: string;
  readonly status: number;
  readonly oauthError: OAuthErrorCode | undefined;
  /** Further members of a problem+json answer (RFC 9457 §3.2), e.g. the `problems` of an invalid policy set. */
  readonly extensions: Record<string, unknown> | undefined;

  constructor(code: string, message: string, options: { status?: number; oauthError?: OAuthErrorCode; cause?: unknown; extensions?: Record<string, unknown> } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'MandateError';
    this.code = code;
    this.status = options.status ?? 400;
    this.oauthError = options.oauthError;
    this.extensions = options.extensions;
  }

  /** The same failure, reported at an OAuth endpoint under `error`. */
  asOAuth(error: OAuthErrorCode, status = error === 'invalid_client' ? 401 : 400): MandateError {
    return new MandateError(this.code, this.message, { status, oauthError: error, cause: this });
  }
}

export const badRequest = (code: string, message: string): MandateError => new MandateError(code, message, { status: 400 });
export const unauthorized = (code: string, message: string): MandateError => new MandateError(code, message, { status: 401 });
export const forbidden = (code: string, message: string): MandateError => new MandateError(code, message, { status: 403 });
export const notFound = (code: string, message: string): MandateError => new MandateError(code, message, { status: 404 });
export const conflict = (code: string, message: string): MandateError => new MandateError(code, message, { status: 409 });

export function oauthError(error: OAuthErrorCode, code: string, message: string): MandateError {
  return new MandateError(code, message, { status: error === 'invalid_client' ? 401 : 400, oauthError: error });
}
