// A request's arguments as Cedar can test them. Cedar has no "any JSON" type, so the
// arguments become entities whose tags are their values, one entity per kind of
// value (strings, whole numbers, decimals, booleans), keyed by path: nested objects
// joined with "." and array positions as numbers (`to.0.address`). Derived views
// read values as what they name — absolute paths (normalised), e-mail domains, URL
// hosts — keyed by the path without array positions (`to.address`) and covering
// every value there; a key is in a derived view only when each of its values reads
// that way (null and an empty array give the empty set), so a value Mandate cannot
// read never narrows a view silently.
//
// The mapping is deterministic: the same arguments always give the same views (keys
// sorted). Arguments that cannot be mapped faithfully — not an object, two values
// at one path, too deep, too many values, a path too long — are refused with a
// reason rather than mapped in part. Strings longer than `stringLength` are left
// out of every view but `keys` (their keys are then absent from the derived views).
import { posix } from 'node:path';
import { domainToASCII } from 'node:url';
import type { EntityRecord } from '../policy/engine.ts';
import { entityValue } from '../policy/entities.ts';

export const ARGUMENT_LIMITS = Object.freeze({
  /** Nesting of objects and arrays below the arguments object. */
  depth: 16,
  /** Paths (every value, containers included). */
  entries: 1024,
  /** Characters of one path. */
  keyLength: 512,
  /** Characters of a string value that is mapped. */
  stringLength: 4096,
});

export interface ArgumentViews {
  /** Every path present, of any value, sorted. */
  keys: string[];
  strings: Record<string, string>;
  /** Whole numbers within ±(2^53 − 1). */
  numbers: Record<string, number>;
  /** Decimal literals (at most four places, within Cedar's decimal range), as text. */
  decimals: Record<string, string>;
  booleans: Record<string, boolean>;
  /** By path without array positions: the normalised path, or several paths' deepest common directory ending in "/". */
  paths: Record<string, string>;
  /** By path without array positions: the domains after every "@", sorted. */
  emailDomains: Record<string, string[]>;
  /** By path without array positions: URL host names, sorted. */
  urlHosts: Record<string, string[]>;
}

export type ArgumentRefusal = 'arguments_invalid' | 'arguments_ambiguous' | 'arguments_too_complex';
export type ArgumentMapping = { ok: true; views: ArgumentViews } | { ok: false; code: ArgumentRefusal; message: string };

/** Objects without a prototype: a key such as `__proto__` is a key like any other. */
const record = <T>(): Record<string, T> => Object.create(null) as Record<string, T>;

/** The same record with its keys in sorted order (equal arguments, equal requests). */
function sorted<T>(from: Record<string, T>): Record<string, T> {
  const to = record<T>();
  for (const key of Object.keys(from).sort()) to[key] = from[key] as T;
  return to;
}

export const NO_ARGUMENTS: ArgumentViews = Object.freeze({
  keys: [], strings: record<string>(), numbers: record<number>(), decimals: record<string>(), booleans: record<boolean>(),
  paths: record<string>(), emailDomains: record<string[]>(), urlHosts: record<string[]>(),
});

const PLAIN_NUMBER = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?$/;
/** Cedar's decimal: a 64-bit integer of ten-thousandths. */
const DECIMAL_MAX = 9223372036854775807n;
const DECIMAL_MIN = 9223372036854775808n;

/** The whole-number and decimal readings of a number's plain decimal text, when it has them. */
export function numericReadings(text: string): { number?: number; decimal?: string } {
  if (!PLAIN_NUMBER.test(text)) return {};
  const negative = text.startsWith('-');
  const [whole = '0', rawFraction = ''] = (negative ? text.slice(1) : text).split('.');
  const fraction = rawFraction.replace(/0+$/, '');
  const zero = /^0$/.test(whole) && fraction === '';
  const sign = negative && !zero ? '-' : '';
  const readings: { number?: number; decimal?: string } = {};
  if (fraction === '') {
    const value = Number(`${sign}${whole}`);
    if (Number.isSafeInteger(value)) readings.number = value;
  }
  if (fraction.length <= 4) {
    const scaled = BigInt(whole) * 10000n + BigInt(fraction.padEnd(4, '0'));
    if (scaled <= (negative ? DECIMAL_MIN : DECIMAL_MAX)) readings.decimal = `${sign}${whole}.${fraction === '' ? '0' : fraction}`;
  }
  return readings;
}

/** An absolute path with "//", "." and ".." resolved and no trailing "/" (but "/" itself). */
export function normalPath(path: string): string {
  const normal = posix.normalize(path);
  return normal.length > 1 && normal.endsWith('/') ? normal.slice(0, -1) : normal;
}

/** One path, or the deepest directory every one of several distinct paths is in (ending in "/" unless one of them is it). */
export function commonPath(paths: readonly string[]): string {
  const distinct = [...new Set(paths.map(normalPath))];
  if (distinct.length === 1) return distinct[0] as string;
  const split = distinct.map((p) => p.split('/').filter((s) => s !== ''));
  const first = split[0] as string[];
  let common = 0;
  while (common < first.length && split.every((s) => s[common] === first[common])) common++;
  const prefix = `/${first.slice(0, common).join('/')}`;
  return split.every((s) => s.length > common) && prefix !== '/' ? `${prefix}/` : prefix;
}

const EMAIL_DOMAIN = /@([^\s@<>,;:"'()[\]\\]*)/g;

/** The domains after every "@" in a string (lower case, IDNA ASCII), or null when it has none or one that is no domain. */
export function emailDomains(value: string): string[] | null {
  if (!value.includes('@')) return null;
  const domains: string[] = [];
  for (const match of value.matchAll(EMAIL_DOMAIN)) {
    const raw = (match[1] ?? '').replace(/\.+$/, '').toLowerCase();
    const ascii = raw === '' ? '' : domainToASCII(raw);
    if (ascii === '') return null;
    domains.push(ascii);
  }
  return domains;
}

const URL_SCHEME = /^\s*[a-zA-Z][a-zA-Z0-9+.-]*:/;

/** The host name of a URL as WHATWG URL parsing reads it, or null when the string is no URL with a host. */
export function urlHost(value: string): string | null {
  if (!URL_SCHEME.test(value) || !URL.canParse(value)) return null;
  const host = new URL(value).hostname.replace(/\.$/, '');
  return host === '' ? null : host;
}

/** What was found at one path without array positions: its string values, and whether anything else was there. */
interface Gathered {
  strings: string[];
  other: boolean;
}

class Refused extends Error {
  readonly code: ArgumentRefusal;
  constructor(code: ArgumentRefusal, message: string) {
    super(message);
    this.code = code;
  }
}

/** Maps a request's arguments (`params.arguments`; absent or null: none) to the views policies test. */
export function mapArguments(value: unknown): ArgumentMapping {
  if (value === undefined || value === null) return { ok: true, views: NO_ARGUMENTS };
  if (typeof value !== 'object' || Array.isArray(value)) {
    return { ok: false, code: 'arguments_invalid', message: `the arguments must be a JSON object, not ${Array.isArray(value) ? 'an array' : `a ${typeof value}`}` };
  }
  const keys = new Set<string>();
  const strings = record<string>();
  const numbers = record<number>();
  const decimals = record<string>();
  const booleans = record<boolean>();
  const gathered = new Map<string, Gathered>();

  /** Notes what is at a path without array positions: a string, something else (null for that), or (undefined) nothing, as in an empty array. */
  const gather = (collapsed: string, string?: string | null): void => {
    let at = gathered.get(collapsed);
    if (!at) gathered.set(collapsed, (at = { strings: [], other: false }));
    if (string === null) at.other = true;
    else if (string !== undefined) at.strings.push(string);
  };
  const visit = (node: unknown, path: string, collapsed: string, depth: number): void => {
    if (keys.has(path)) throw new Refused('arguments_ambiguous', `two values have the path "${path}" (a key containing "." can be read as nesting)`);
    if (path.length > ARGUMENT_LIMITS.keyLength) throw new Refused('arguments_too_complex', `a path is longer than ${ARGUMENT_LIMITS.keyLength} characters`);
    keys.add(path);
    if (node === null) {
      gather(collapsed);
      return;
    }
    switch (typeof node) {
      case 'string':
        if (node.length > ARGUMENT_LIMITS.stringLength) {
          gather(collapsed, null);
          return;
        }
        strings[path] = node;
        gather(collapsed, node);
        addNumeric(path, node);
        return;
      case 'number':
        gather(collapsed, null);
        addNumeric(path, String(node));
        return;
      case 'boolean':
        gather(collapsed, null);
        booleans[path] = node;
        return;
      case 'object':
        // An array's values share its path without positions; an object is not a value there.
        gather(collapsed, Array.isArray(node) ? undefined : null);
        descend(node as object, path, collapsed, depth + 1);
        return;
      default:
        throw new Refused('arguments_invalid', `the value at "${path}" is not JSON`);
    }
  };
  const addNumeric = (path: string, text: string): void => {
    const { number, decimal } = numericReadings(text);
    if (number !== undefined) numbers[path] = number;
    if (decimal !== undefined) decimals[path] = decimal;
  };
  const descend = (node: object, path: string, collapsed: string, depth: number): void => {
    if (depth > ARGUMENT_LIMITS.depth) throw new Refused('arguments_too_complex', `the arguments nest deeper than ${ARGUMENT_LIMITS.depth} levels`);
    const array = Array.isArray(node);
    const children = array ? (node as unknown[]).length : Object.keys(node).length;
    if (keys.size + children > ARGUMENT_LIMITS.entries) throw new Refused('arguments_too_complex', `the arguments hold more than ${ARGUMENT_LIMITS.entries} values`);
    const prefix = path === '' && depth === 1 ? '' : `${path}.`;
    if (array) {
      (node as unknown[]).forEach((child, index) => visit(child, `${prefix}${index}`, collapsed, depth));
    } else {
      const collapsedPrefix = path === '' && depth === 1 ? '' : `${collapsed}.`;
      for (const [key, child] of Object.entries(node)) visit(child, `${prefix}${key}`, `${collapsedPrefix}${key}`, depth);
    }
  };

  try {
    descend(value, '', '', 1);
  } catch (error) {
    if (error instanceof Refused) return { ok: false, code: error.code, message: error.message };
    throw error;
  }

  const paths = record<string>();
  const domains = record<string[]>();
  const hosts = record<string[]>();
  for (const [collapsed, at] of gathered) {
    if (at.other) continue;
    if (at.strings.length > 0 && at.strings.every((s) => s.startsWith('/'))) paths[collapsed] = commonPath(at.strings);
    const found = at.strings.map(emailDomains);
    if (found.every((d) => d !== null)) domains[collapsed] = [...new Set(found.flat())].sort();
    const urls = at.strings.map(urlHost);
    if (urls.every((h) => h !== null)) hosts[collapsed] = [...new Set(urls)].sort();
  }
  return {
    ok: true,
    views: {
      keys: [...keys].sort(), strings: sorted(strings), numbers: sorted(numbers), decimals: sorted(decimals), booleans: sorted(booleans),
      paths: sorted(paths), emailDomains: sorted(domains), urlHosts: sorted(hosts),
    },
  };
}

/** The id of the argument entities of a request (there is one set per request). */
export const ARGUMENTS_ID = 'request';

/**
 * The Arguments entity and its views, as the request's entities. An empty view is
 * left out: `hasTag` on an entity that is not there is false, as on one without tags.
 */
export function argumentEntities(views: ArgumentViews): EntityRecord[] {
  const decimals = record<{ __extn: { fn: string; arg: string } }>();
  for (const [key, text] of Object.entries(views.decimals)) decimals[key] = { __extn: { fn: 'decimal', arg: text } };
  const entities: EntityRecord[] = [
    {
      uid: { type: 'Arguments', id: ARGUMENTS_ID },
      attrs: {
        keys: views.keys,
        numbers: entityValue('ArgumentNumbers', ARGUMENTS_ID),
        decimals: entityValue('ArgumentDecimals', ARGUMENTS_ID),
        booleans: entityValue('ArgumentBooleans', ARGUMENTS_ID),
        paths: entityValue('ArgumentPaths', ARGUMENTS_ID),
        email_domains: entityValue('ArgumentEmailDomains', ARGUMENTS_ID),
        url_hosts: entityValue('ArgumentUrlHosts', ARGUMENTS_ID),
      },
      parents: [],
      tags: views.strings,
    },
  ];
  const view = (type: string, tags: NonNullable<EntityRecord['tags']>): void => {
    if (Object.keys(tags).length > 0) entities.push({ uid: { type, id: ARGUMENTS_ID }, attrs: {}, parents: [], tags });
  };
  view('ArgumentNumbers', views.numbers);
  view('ArgumentDecimals', decimals);
  view('ArgumentBooleans', views.booleans);
  view('ArgumentPaths', views.paths);
  view('ArgumentEmailDomains', views.emailDomains);
  view('ArgumentUrlHosts', views.urlHosts);
  return entities;
}
