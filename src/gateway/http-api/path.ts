// The path of a request through /proxy/<server>/<path>, normalised before it is
// decided, so that what policy sees is exactly what is forwarded: percent-encoded
// unreserved characters are decoded and the hex of the rest upper-cased (RFC 3986
// §6.2.2, spellings of the same path), and anything an upstream might read as another
// path is refused — "." and ".." segments (also encoded), empty segments, an encoded
// "/" or "\", NUL, malformed escapes. `/%61dmin` is decided and sent as `/admin`.
import { badRequest, type MandateError } from '../../errors.ts';

const MAX_PATH = 4096;
const UNRESERVED = /[A-Za-z0-9\-._~]/;
/** Raw characters a path may hold: pchar and "/" (RFC 3986), "%" for escapes. */
const RAW = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*$/;

const invalid = (why: string): MandateError => badRequest('invalid_path', `the request path ${why}`);

/** The normalised path ("/" for none); throws `invalid_path`. */
export function normalizePath(raw: string): string {
  if (raw === '') return '/';
  if (!raw.startsWith('/')) throw invalid('must start with "/"');
  if (raw.length > MAX_PATH) throw invalid(`is longer than ${MAX_PATH} characters`);
  if (!RAW.test(raw)) throw invalid('holds characters a path may not (spaces, quotes, non-ASCII: percent-encode them)');
  const segments = raw.slice(1).split('/').map((segment, i, all) => {
    const normal = segment.replace(/%([0-9A-Fa-f]{2})?/g, (_m, hex: string | undefined) => {
      if (hex === undefined) throw invalid('holds a "%" that is not an escape');
      const char = String.fromCharCode(parseInt(hex, 16));
      if (char === '/' || char === '\\' || char === '\0') throw invalid('holds an encoded "/", "\\" or NUL');
      return UNRESERVED.test(char) ? char : `%${hex.toUpperCase()}`;
    });
    if (normal === '.' || normal === '..') throw invalid('holds a "." or ".." segment');
    if (normal === '' && i !== all.length - 1) throw invalid('holds an empty segment ("//")');
    return normal;
  });
  return `/${segments.join('/')}`;
}
