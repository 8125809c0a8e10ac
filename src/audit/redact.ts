// Secrets out of what Mandate keeps and prints. Tool arguments, tool replies and an
// upstream's own output can carry credentials; before any of it is stored in the
// audit log or written to the console, what looks like one is replaced by a marker
// naming its kind (`[REDACTED:jwt]`), never by anything derived from the value.
//
// Two ways to find one. By format: the published shapes of cloud and SaaS keys, JWTs,
// PEM private keys, the password of a URL, an Authorization header's credentials, the
// value written after a name such as `password=` or `"api_key":`; in JSON values, also
// the whole value of a member whose name says it is a secret. By chance: a long run of
// base64 or base64url characters, mixing upper case, lower case and digits, random
// enough (Shannon entropy) and not made of words. Hex alone never counts by chance
// (digests, commit ids and UUIDs are hex), nor do identifiers, paths or URLs without
// credentials. Either way a secret of no known shape can be missed.
//
// Every pattern starts only where its first character may start a token and matches
// runs of characters the next part cannot contain, so a text is scanned in time
// linear in its length whatever it holds.

export type SecretKind =
  | 'private_key' | 'url_password' | 'authorization'
  | 'aws_access_key_id' | 'aws_secret_access_key' | 'github_token' | 'gitlab_token' | 'slack_token' | 'slack_webhook'
  | 'stripe_key' | 'google_api_key' | 'anthropic_api_key' | 'openai_api_key' | 'npm_token' | 'twilio_api_key'
  | 'sendgrid_api_key' | 'jwt' | 'password' | 'secret_field' | 'high_entropy';

/** What replaces a secret of `kind`. */
export const redactionMarker = (kind: SecretKind): string => `[REDACTED:${kind}]`;
const MARKER_START = '[REDACTED:';

export interface RedactedText {
  text: string;
  /** The kinds of secret replaced, sorted, each once. */
  found: SecretKind[];
}

export interface RedactedValue {
  value: unknown;
  /** The kinds of secret replaced, sorted, each once. */
  found: SecretKind[];
}

/** One way of finding secrets in text. */
interface Detector {
  /** A text this does not match holds no candidate (a quick test before the scan). */
  hint?: RegExp;
  /** Global: each match is a candidate. */
  pattern: RegExp;
  /** Where in a text no candidate is a secret, as sorted [start, end) ranges. */
  exempt?: (text: string) => Array<[number, number]>;
  /** What replaces the candidate, or null when it is no secret; `end` when the secret runs past the match. */
  replace: (match: RegExpExecArray, text: string) => { text: string; kind: SecretKind; end?: number } | null;
}

/** Replaces every match in full, as `kind`. */
const whole = (kind: SecretKind) => (): { text: string; kind: SecretKind } => ({ text: redactionMarker(kind), kind });

const hasLower = (s: string): boolean => /[a-z]/.test(s);
const hasUpper = (s: string): boolean => /[A-Z]/.test(s);
const hasDigit = (s: string): boolean => /[0-9]/.test(s);

// --- names that say a value is secret -------------------------------------------

/** A member or field name ends with one of these (lower case, letters and digits only) when it names a secret. */
const SECRET_NAME_ENDINGS = [
  'password', 'passwd', 'passphrase', 'secret', 'token', 'apikey', 'accesskey', 'privatekey', 'secretkey', 'signingkey',
  'encryptionkey', 'masterkey', 'sessionkey', 'accountkey', 'authkey', 'authorization', 'cookie', 'credential', 'credentials',
];
const SECRET_NAMES = new Set(['pass']);
/** Names ending like a secret that are cursors (MCP's progress token, paging), not credentials. */
const NOT_SECRET_ENDINGS = ['progresstoken', 'pagetoken', 'nexttoken', 'continuationtoken', 'synctoken', 'cursortoken'];
const PASSWORD_ENDINGS = ['password', 'passwd', 'passphrase'];

/**
 * The kind of secret a member or field named `name` holds, or null when its name says
 * nothing: `password`, `db.password`, `X-Api-Key`, `clientSecret`, `refresh_token`, … (case,
 * `-`, `_`, `.` and spaces do not matter). `max_tokens`, `token_count` or `nextPageToken` name none.
 */
export function secretNameKind(name: string): SecretKind | null {
  if (name.length > 256) return null;
  const normal = name.toLowerCase().replace(/[^a-z0-9]/g, '');
  if (!SECRET_NAMES.has(normal) && !SECRET_NAME_ENDINGS.some((e) => normal.endsWith(e))) return null;
  if (NOT_SECRET_ENDINGS.some((e) => normal.endsWith(e))) return null;
  if (normal.endsWith('secretaccesskey') || (normal.includes('aws') && normal.endsWith('secretkey'))) return 'aws_secret_access_key';
  if (normal.endsWith('authorization')) return 'authorization';
  if (normal === 'pass' || PASSWORD_ENDINGS.some((e) => normal.endsWith(e))) return 'password';
  return 'secret_field';
}

/** A value that stands for a secret without being one: empty, masked, a placeholder, a variable, a marker. */
const PLACEHOLDER = /^(?:|[*•#]+|[xX]{3,}|\.{3,}|-{2,}|\$\{[^{}]{1,64}\}|\$[A-Za-z_][A-Za-z0-9_]*|<[^<>]{0,64}>|\{\{[^{}]{0,64}\}\}|null|nil|none|undefined|true|false|redacted|hidden|masked|\[(?:redacted|hidden|masked)\])$/i;
const isPlaceholder = (value: string): boolean => value.length <= 80 && PLACEHOLDER.test(value.trim());

/** A version (range) as package manifests write one: `^9.0.3`, `>=1.2`. */
const VERSION = /^[~^<>=v]{0,3}\d+\.\d+/;
/** A name or member in code (`bearerToken`, `world.mandateToken`, `extra._meta?.progressToken`). */
const CODE_REFERENCE = /^[A-Za-z_$][\w$]*(?:\??\.[A-Za-z_$#][\w$]*)*$/;

// --- the detectors, in the order they run ----------------------------------------
// Whole structures first (a key block, a URL, a header), then the specific formats,
// then named fields, then entropy: each later one sees the markers of the earlier.

const PEM_END = /-----END (?:[A-Z0-9]+ ){0,4}PRIVATE KEY(?: BLOCK)?-----/g;

const PRIVATE_KEY: Detector = {
  hint: /PRIVATE KEY/,
  pattern: /-----BEGIN (?:[A-Z0-9]+ ){0,4}PRIVATE KEY(?: BLOCK)?-----/g,
  // To the END line; a block cut short is redacted to the end of the text.
  replace: (match, text) => {
    PEM_END.lastIndex = match.index + match[0].length;
    const end = PEM_END.exec(text);
    return { text: redactionMarker('private_key'), kind: 'private_key', end: end ? end.index + end[0].length : text.length };
  },
};

const URL_PASSWORD: Detector = {
  hint: /:\/\//,
  // scheme://user:password@ — the password runs to the first "@" (an "@" inside one must be percent-encoded).
  pattern: /(?<![A-Za-z0-9+.-])([A-Za-z][A-Za-z0-9+.-]{0,31}:\/\/)([^\s:/?#@"'<>]{0,256}):([^\s/?#@"'<>]{1,1024})@/g,
  replace: (match) => {
    const [, scheme, user, password] = match as unknown as [string, string, string, string];
    if (password.startsWith(MARKER_START) || isPlaceholder(password)) return null;
    return { text: `${scheme}${user}:${redactionMarker('url_password')}@`, kind: 'url_password' };
  },
};

const AUTH_SCHEMES = 'Bearer|Basic|Token|Bot|Digest|DPoP|Negotiate|NTLM|MAC|AWS4-HMAC-SHA256';
const AUTH_SCHEME = new RegExp(`^(?:${AUTH_SCHEMES})$`, 'i');

/** `Authorization: Bearer …` (also `"authorization": "…"`, `Proxy-Authorization=…`): the scheme stays, the credentials go. */
const AUTHORIZATION_FIELD: Detector = {
  hint: /authorization/i,
  pattern: new RegExp(`(?<![A-Za-z0-9_-])((?:proxy-)?authorization\\\\?["'\`]?[ \\t]{0,16}[:=][ \\t]{0,16}\\\\?["'\`]?)(?:(${AUTH_SCHEMES})([ \\t]+))?([^\\s"'\`\\\\,;]{1,8192})`, 'gi'),
  replace: (match) => {
    const [, field, scheme = '', space = '', credentials] = match as unknown as [string, string, string | undefined, string | undefined, string];
    if (credentials.startsWith(MARKER_START) || credentials.startsWith('<') || isPlaceholder(credentials)) return null;
    // No credentials after all: a scheme alone (`Authorization: Bearer`), a word, a reference in code.
    if (!scheme && (AUTH_SCHEME.test(credentials) || /^[a-z]+$/.test(credentials) || (CODE_REFERENCE.test(credentials) && credentials.includes('.')))) return null;
    return { text: `${field}${scheme}${space}${redactionMarker('authorization')}`, kind: 'authorization' };
  },
};

/** Credentials that follow `Bearer ` or `Basic ` outside a header: base64-like, not a word of prose. */
const AUTHORIZATION_VALUE: Detector = {
  hint: /[Bb]earer|[Bb]asic/,
  pattern: /(?<![A-Za-z0-9_-])([Bb]earer|[Bb]asic)([ \t]+)([A-Za-z0-9._~+/-]{8,}={0,2})/g,
  replace: (match) => {
    const [, scheme, space, credentials] = match as unknown as [string, string, string, string];
    const credential = hasDigit(credentials) || /[._~+/=-]/.test(credentials) || (hasUpper(credentials) && hasLower(credentials) && credentials.length % 4 === 0);
    return credential ? { text: `${scheme}${space}${redactionMarker('authorization')}`, kind: 'authorization' } : null;
  },
};

const SLACK_WEBHOOK: Detector = {
  hint: /hooks\.slack\.com/,
  pattern: /(https?:\/\/hooks\.slack\.com\/(?:services|workflows|triggers)\/)[A-Za-z0-9_/-]{16,}/g,
  replace: (match) => ({ text: `${match[1] as string}${redactionMarker('slack_webhook')}`, kind: 'slack_webhook' }),
};

/** A token of a known format: `prefix` and a body, not inside a longer token. */
const format = (kind: SecretKind, hint: RegExp, pattern: RegExp, valid?: (token: string) => boolean): Detector => ({
  hint, pattern, replace: (match) => (valid && !valid(match[0]) ? null : { text: redactionMarker(kind), kind }),
});

const mixed = (token: string): boolean => hasDigit(token) && hasUpper(token) && hasLower(token);

const FORMATS: Detector[] = [
  format('aws_access_key_id', /AKIA|ASIA|ABIA|ACCA/, /(?<![A-Za-z0-9])(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Za-z0-9])/g),
  format('github_token', /gh[pousr]_/, /(?<![A-Za-z0-9_])gh[pousr]_[A-Za-z0-9]{36,}/g),
  format('github_token', /github_pat_/, /(?<![A-Za-z0-9_])github_pat_[A-Za-z0-9_]{50,}/g),
  format('gitlab_token', /glpat-/, /(?<![A-Za-z0-9_-])glpat-[A-Za-z0-9_-]{20,}/g),
  format('slack_token', /xox[abposr]-/, /(?<![A-Za-z0-9_-])xox[abposr]-[A-Za-z0-9-]{10,}/g, hasDigit),
  format('stripe_key', /_live_|_test_|whsec_/, /(?<![A-Za-z0-9_])(?:(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}|whsec_[A-Za-z0-9]{24,})/g),
  format('google_api_key', /AIza/, /(?<![A-Za-z0-9_-])AIza[A-Za-z0-9_-]{35}(?![A-Za-z0-9_-])/g),
  // Anthropic's keys start like OpenAI's: they are matched first.
  format('anthropic_api_key', /sk-ant-/, /(?<![A-Za-z0-9_-])sk-ant-[A-Za-z0-9_-]{20,}/g),
  format('openai_api_key', /sk-/, /(?<![A-Za-z0-9_-])sk-[A-Za-z0-9_-]{20,}/g, (token) => mixed(token.slice(3))),
  format('npm_token', /npm_/, /(?<![A-Za-z0-9_])npm_[A-Za-z0-9]{36,}/g),
  format('twilio_api_key', /SK/, /(?<![A-Za-z0-9])SK[0-9a-fA-F]{32}(?![A-Za-z0-9])/g),
  format('sendgrid_api_key', /SG\./, /(?<![A-Za-z0-9_-])SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])/g),
];

const JWT: Detector = {
  hint: /eyJ/,
  // header.payload.signature, each base64url; the header and payload are JSON objects ("{" is "eyJ").
  pattern: /(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{2,}\.eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*/g,
  replace: whole('jwt'),
};

const MAX_FIELD_VALUE = 8192;
/** Where an unquoted value ends. */
const VALUE_END = /[\s"'`,;&<>(){}[\]\\]/;

/**
 * Whether an unquoted value after a secret's name reads as prose or code rather than
 * a secret: after ":" (or " = ") a single word ("Password: required", `token = await …`);
 * a member reference (`token: world.mandateToken`); a name followed by a call or the
 * end of a statement (`token = bearerToken(req);`).
 */
function proseOrCode(raw: string, separator: string, after: string | undefined): boolean {
  if (/^[=>:]/.test(raw) || /^\d{1,5}$/.test(raw)) return true; // `token === x`, `token => x`, `a::b`, `secret: 3`
  const spaced = separator.includes(':') || /\s=|=\s/.test(separator);
  if (spaced && /^[A-Za-z][a-z]*[.,!?]?$/.test(raw)) return true;
  if (!CODE_REFERENCE.test(raw)) return false;
  return raw.includes('.') || (after !== undefined && '(;,)}]'.includes(after));
}

/**
 * The value after a secret's name in text: `password=…`, `DB_PASSWORD: …`, `"client_secret": "…"`,
 * `--api-key=…`, `X-Api-Key: …`, `Cookie: …` (to the end of its line). A value that reads as
 * prose or code (proseOrCode), a version or a placeholder is left.
 */
const FIELD: Detector = {
  hint: /[:=]/,
  pattern: /(?<![A-Za-z0-9_.-])(-{0,2}[A-Za-z_][A-Za-z0-9_.-]{0,63})(\\?["']?[ \t]{0,16}[:=][ \t]{0,16})/g,
  replace: (match, text) => {
    const [head, name, separator] = match as unknown as [string, string, string];
    const kind = secretNameKind(name.replace(/^-+/, ''));
    if (kind === null || /authorization$/i.test(name)) return null; // authorization: AUTHORIZATION_FIELD's
    const start = match.index + head.length;
    // A cookie header's value is its whole line of `name=value` pairs.
    const cookies = /cookie$/i.test(name) && /^[\w.-]{1,256}=/.test(text.slice(start, start + 257));
    const value = fieldValue(text, start, cookies);
    if (value === null) return null;
    const raw = text.slice(value.from, value.to);
    if (raw === '' || raw.includes(MARKER_START) || isPlaceholder(raw)) return null;
    if (VERSION.test(raw) || (!value.quoted && proseOrCode(raw, separator.replace(/^\\?["']?/, ''), /^[ \t]*([^ \t])/.exec(text.slice(value.to, value.to + 16))?.[1]))) return null;
    return { text: `${text.slice(match.index, value.from)}${redactionMarker(kind)}`, kind, end: value.to };
  },
};

/** Where the value starting at `at` lies (without its quotes). */
function fieldValue(text: string, at: number, toEndOfLine: boolean): { from: number; to: number; quoted: boolean } | null {
  const escaped = text[at] === '\\' && (text[at + 1] === '"' || text[at + 1] === "'");
  const quote = escaped ? text[at + 1] : text[at] === '"' || text[at] === "'" ? text[at] : undefined;
  const limit = Math.min(text.length, at + MAX_FIELD_VALUE);
  if (quote !== undefined) {
    const from = at + (escaped ? 2 : 1);
    for (let i = from; i < limit; i++) {
      const c = text[i];
      if (c === '\n') return { from, to: i, quoted: true };
      if (escaped ? c === '\\' && text[i + 1] === quote : c === quote) return { from, to: i, quoted: true };
      if (!escaped && c === '\\') i++;
    }
    return { from, to: limit, quoted: true };
  }
  let to = at;
  if (text.startsWith('${', at)) { // a variable: `${NAME}`
    const close = text.indexOf('}', at);
    if (close !== -1 && close - at <= 64) return { from: at, to: close + 1, quoted: false };
  }
  while (to < limit && (toEndOfLine ? text[to] !== '\n' && text[to] !== '\r' : !VALUE_END.test(text[to] as string))) to++;
  return to === at ? null : { from: at, to, quoted: false };
}

// --- high-entropy tokens --------------------------------------------------------

/** Shortest token that can count as random by itself. */
export const MIN_RANDOM_TOKEN = 24;

/** Shannon entropy of `token`, in bits per character. */
export function shannonEntropy(token: string): number {
  const counts = new Map<number, number>();
  for (let i = 0; i < token.length; i++) {
    const c = token.charCodeAt(i);
    counts.set(c, (counts.get(c) ?? 0) + 1);
  }
  let bits = 0;
  for (const n of counts.values()) {
    const p = n / token.length;
    bits -= p * Math.log2(p);
  }
  return bits;
}

/** The share of `token` spelled in words: lower-case runs of 4 or more, or a capital and 3 or more. */
function wordShare(token: string): number {
  let inWords = 0;
  for (const word of token.matchAll(/[a-z]{4,}|[A-Z][a-z]{3,}/g)) inWords += word[0].length;
  return inWords / token.length;
}

/** A path segment that reads as a name: `src`, `node_modules`, `v1.2`, `Reports`, `QuickStartGuide`. */
const isWordSegment = (segment: string): boolean => /^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*|[A-Z]?[a-z]+)$/.test(segment) || wordShare(segment) >= 0.5;

const DIGEST_PREFIX = /^(?:sha1|sha224|sha256|sha384|sha512|md5)[-_]/i;

/**
 * Whether a run of base64 / base64url characters reads as random: at least
 * MIN_RANDOM_TOKEN long (padding aside), upper and lower case and digits mixed, not
 * hex (nor a UUID: hex with dashes), not a digest (`sha512-…`), spelled less than half
 * in words, and Shannon entropy at least 0.78 × log2(length) bits per character (at
 * most 4.5 asked): a random token of 24 has about 4.2, an identifier of 24 about 3.6.
 */
export function looksRandom(token: string): boolean {
  const t = token.replace(/=+$/, '');
  if (t.length < MIN_RANDOM_TOKEN || !mixed(t)) return false;
  if (/^[0-9a-fA-F_-]+$/.test(t) || DIGEST_PREFIX.test(t)) return false;
  if (wordShare(t) >= 0.5) return false;
  return shannonEntropy(t) >= Math.min(4.5, 0.78 * Math.log2(t.length));
}

const PUBLIC_PEM = /-----BEGIN ((?:[A-Z0-9]+ ){0,4}(?:CERTIFICATE(?: REQUEST)?|PUBLIC KEY(?: BLOCK)?|X509 CRL))-----/g;

/** Certificates and public keys in PEM: long base64 that is meant to be shown. */
function publicBlocks(text: string): Array<[number, number]> {
  const blocks: Array<[number, number]> = [];
  if (!text.includes('-----BEGIN ')) return blocks;
  PUBLIC_PEM.lastIndex = 0;
  let begin: RegExpExecArray | null;
  while ((begin = PUBLIC_PEM.exec(text)) !== null) {
    const endLine = `-----END ${begin[1] as string}-----`;
    const end = text.indexOf(endLine, begin.index);
    if (end === -1) break;
    blocks.push([begin.index, end + endLine.length]);
    PUBLIC_PEM.lastIndex = end + endLine.length;
  }
  return blocks;
}

/** An OpenSSH public key's type, just before its base64 (`ssh-ed25519 AAAA…`). */
const SSH_PUBLIC_KEY_TYPE = /(?:ssh-(?:rsa|dss|ed25519)|ecdsa-sha2-nistp\d{3}|sk-(?:ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com) $/;

const HIGH_ENTROPY: Detector = {
  pattern: /[A-Za-z0-9+/_-]{24,}={0,2}/g,
  exempt: publicBlocks,
  replace: (match, text) => {
    const token = match[0];
    if (!looksRandom(token)) return null;
    if (token.startsWith('AAAA') && SSH_PUBLIC_KEY_TYPE.test(text.slice(Math.max(0, match.index - 48), match.index))) return null;
    // A path with a random part (half its segments or more are words): only the random segments go.
    const segments = token.split('/');
    const named = segments.filter((s) => s !== '');
    if (named.length > 1 && named.filter(isWordSegment).length * 2 >= named.length) {
      const kept = segments.map((s) => (looksRandom(s) ? redactionMarker('high_entropy') : s));
      return kept.some((s, i) => s !== segments[i]) ? { text: kept.join('/'), kind: 'high_entropy' } : null;
    }
    return { text: redactionMarker('high_entropy'), kind: 'high_entropy' };
  },
};

const DETECTORS: Detector[] = [PRIVATE_KEY, URL_PASSWORD, AUTHORIZATION_FIELD, AUTHORIZATION_VALUE, SLACK_WEBHOOK, ...FORMATS, JWT, FIELD, HIGH_ENTROPY];

function apply(text: string, detector: Detector, found: Set<SecretKind>): string {
  if (detector.hint && !detector.hint.test(text)) return text;
  const { pattern } = detector;
  const exempt = detector.exempt?.(text) ?? [];
  let next = 0; // the first exempt range not wholly before the match
  pattern.lastIndex = 0;
  let out = '';
  let done = 0;
  let match: RegExpExecArray | null;
  while ((match = pattern.exec(text)) !== null) {
    while (next < exempt.length && (exempt[next] as [number, number])[1] <= match.index) next++;
    if (next < exempt.length && (exempt[next] as [number, number])[0] <= match.index) continue;
    const replaced = detector.replace(match, text);
    if (replaced === null) continue;
    const end = Math.max(replaced.end ?? 0, match.index + match[0].length);
    out += text.slice(done, match.index) + replaced.text;
    done = end;
    found.add(replaced.kind);
    pattern.lastIndex = end;
  }
  return done === 0 ? text : out + text.slice(done);
}

const sortedKinds = (found: Set<SecretKind>): SecretKind[] => [...found].sort();

function redactInto(text: string, found: Set<SecretKind>): string {
  let out = text;
  for (const detector of DETECTORS) out = apply(out, detector, found);
  return out;
}

/** `text` with every secret found replaced by its marker. */
export function redactText(text: string): RedactedText {
  const found = new Set<SecretKind>();
  return { text: redactInto(text, found), found: sortedKinds(found) };
}

// --- JSON values ----------------------------------------------------------------

/** Nesting beyond which a value is not walked but replaced (it is not kept either). */
export const MAX_REDACT_DEPTH = 64;
const TOO_DEEP = `[TRUNCATED: nested deeper than ${MAX_REDACT_DEPTH} levels]`;

/** Sets a member, `__proto__` included, as data. */
function setMember(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
}

function redactNode(value: unknown, depth: number, found: Set<SecretKind>): unknown {
  if (typeof value === 'string') return redactInto(value, found);
  if (value === null || typeof value !== 'object') return value;
  if (depth >= MAX_REDACT_DEPTH) return TOO_DEEP;
  if (Array.isArray(value)) return value.map((item) => redactNode(item, depth + 1, found));
  const copy: Record<string, unknown> = {};
  for (const [key, member] of Object.entries(value as Record<string, unknown>)) {
    let name = redactInto(key, found);
    while (name !== key && Object.hasOwn(copy, name)) name = `${name}'`;
    setMember(copy, name, redactMemberInto(key, member, depth + 1, found));
  }
  return copy;
}

/** A member's value: a marker when its name says it is secret and it holds anything, else redacted within. */
function redactMemberInto(name: string, member: unknown, depth: number, found: Set<SecretKind>): unknown {
  const kind = secretNameKind(name);
  const secret = kind !== null && member !== null && member !== undefined && typeof member !== 'boolean'
    && !(typeof member === 'string' && (isPlaceholder(member) || member.includes(MARKER_START)));
  if (!secret) return redactNode(member, depth, found);
  found.add(kind);
  return redactionMarker(kind);
}

/** The value of a member named `name`, as redactValue redacts it inside an object. */
export function redactMember(name: string, value: unknown): RedactedValue {
  const found = new Set<SecretKind>();
  return { value: redactMemberInto(name, value, 0, found), found: sortedKinds(found) };
}

/**
 * A copy of a JSON value with secrets replaced: inside every string (and member
 * name), and the whole value of a member whose name says it is secret (`password`,
 * `apiKey`, `authorization`, …; see secretNameKind) unless it is empty, null, a
 * boolean or a placeholder. Values nested deeper than MAX_REDACT_DEPTH are replaced.
 */
export function redactValue(value: unknown): RedactedValue {
  const found = new Set<SecretKind>();
  return { value: redactNode(value, 0, found), found: sortedKinds(found) };
}

// --- a bounded copy for storage ---------------------------------------------------

export interface CopyLimits {
  /** Characters of a string kept; a longer one is cut and says how long it was. */
  maxString: number;
  /** Bytes of the copy as JSON; beyond them, the largest parts become `[TRUNCATED n bytes]`. */
  maxBytes: number;
}

export const COPY_LIMITS: Readonly<CopyLimits> = Object.freeze({ maxString: 1024, maxBytes: 8192 });

/** The marker that replaces a part of `bytes` bytes (as JSON) left out of a copy. */
export const truncatedMarker = (bytes: number): string => `[TRUNCATED ${bytes} bytes]`;

function cutStrings(value: unknown, maxString: number): unknown {
  if (typeof value === 'string') {
    return value.length <= maxString ? value : `${value.slice(0, maxString)}[TRUNCATED: ${value.length} characters in all]`;
  }
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((item) => cutStrings(item, maxString));
  const copy: Record<string, unknown> = {};
  for (const [key, member] of Object.entries(value as Record<string, unknown>)) setMember(copy, key, cutStrings(member, maxString));
  return copy;
}

const jsonBytes = (value: unknown): number => Buffer.byteLength(JSON.stringify(value) ?? 'null');

/** Sizes as JSON, each container measured once. */
class Sizes {
  readonly #known = new WeakMap<object, number>();

  of(value: unknown): number {
    if (value === undefined) return 0;
    if (value === null || typeof value !== 'object') return jsonBytes(value);
    const known = this.#known.get(value);
    if (known !== undefined) return known;
    let size: number;
    if (Array.isArray(value)) {
      size = 2 + Math.max(0, value.length - 1);
      for (const item of value) size += item === undefined ? 4 : this.of(item);
    } else {
      const members = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
      size = 2 + Math.max(0, members.length - 1);
      for (const [key, member] of members) size += jsonBytes(key) + 1 + this.of(member);
    }
    this.#known.set(value, size);
    return size;
  }
}

/**
 * `value` within `budget` bytes. An object keeps the members that fit in an even
 * share of what is left whole, smallest first; each larger one gets that share,
 * recursively. An array keeps its items in order while they fit, each in what is
 * left, and a marker for those after. What cannot fit at all becomes a marker with
 * its size.
 */
function fit(value: unknown, budget: number, sizes: Sizes): unknown {
  const size = sizes.of(value);
  if (size <= budget) return value;
  const marker = truncatedMarker(size);
  if (value === null || typeof value !== 'object' || budget < 2 * marker.length) return marker;
  if (Array.isArray(value)) return leadingItems(value, budget, sizes);
  const members = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
  const sizeOf = (i: number): number => sizes.of(members[i]?.[1]);
  let left = budget - 2 - Math.max(0, members.length - 1) - members.reduce((n, [key]) => n + jsonBytes(key) + 1, 0);
  const order = members.map((_, i) => i).sort((a, b) => sizeOf(a) - sizeOf(b) || a - b);
  const kept: unknown[] = new Array(members.length);
  order.forEach((index, rank) => {
    const fitted = fit(members[index]?.[1], Math.floor(left / (order.length - rank)), sizes);
    kept[index] = fitted;
    left -= sizes.of(fitted);
  });
  const copy: Record<string, unknown> = {};
  members.forEach(([key], i) => setMember(copy, key, kept[i]));
  return sizes.of(copy) <= budget ? copy : marker;
}

/** The items in front, each fitted in what is left of `budget`, and a marker for those left out. */
function leadingItems(items: unknown[], budget: number, sizes: Sizes): unknown[] {
  const itemSize = (item: unknown): number => (item === undefined ? 4 : sizes.of(item));
  let rest = items.reduce<number>((n, item) => n + itemSize(item) + 1, -1);
  let used = 2;
  const kept: unknown[] = [];
  for (const [i, item] of items.entries()) {
    const restAfter = rest - itemSize(item) - 1;
    const reserve = i === items.length - 1 ? 0 : truncatedMarker(rest).length + 3;
    const fitted = fit(item ?? null, budget - used - reserve - 1, sizes);
    if (typeof fitted === 'string' && fitted !== item) break;
    kept.push(fitted);
    used += sizes.of(fitted) + 1;
    rest = restAfter;
  }
  if (kept.length < items.length) kept.push(truncatedMarker(rest));
  return kept;
}

/**
 * What the audit log keeps of a request's arguments: redacted (redactValue), strings
 * longer than `maxString` cut, and the whole within `maxBytes` as JSON, the largest
 * parts replaced by `[TRUNCATED n bytes]` when it is not.
 */
export function redactedCopy(value: unknown, limits: Partial<CopyLimits> = {}): RedactedValue {
  const { maxString, maxBytes } = { ...COPY_LIMITS, ...limits };
  const redacted = redactValue(value);
  return { value: fit(cutStrings(redacted.value, maxString), maxBytes, new Sizes()), found: redacted.found };
}
