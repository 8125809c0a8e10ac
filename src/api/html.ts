// Server-rendered HTML for the few pages people open in a browser (deciding an
// approval). Every interpolated value is escaped by the `html` template; only what
// another `html` template made is inserted as it is. Pages carry no script, load
// nothing from elsewhere and may not be framed: the headers say so.
import type { Reply } from './http.ts';

/** Markup that is already safe to insert. */
export class Html {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export const escapeHtml = (value: string): string => value.replace(/[&<>"']/g, (c) => ESCAPES[c] as string);

function insert(value: unknown): string {
  if (value instanceof Html) return value.text;
  if (Array.isArray(value)) return value.map(insert).join('');
  if (value === null || value === undefined || value === false) return '';
  return escapeHtml(String(value));
}

/** A template whose values are escaped (arrays are joined; null, undefined and false add nothing). */
export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let text = strings[0] as string;
  values.forEach((value, i) => {
    text += insert(value) + (strings[i + 1] as string);
  });
  return new Html(text);
}

const STYLE = `body{font:16px/1.5 system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#1b1f24}
h1{font-size:1.4rem}dl{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1rem}dt{font-weight:600}dd{margin:0;overflow-wrap:anywhere}
pre{background:#f3f4f6;padding:.75rem;overflow:auto;max-height:24rem}code{overflow-wrap:anywhere}
.state{display:inline-block;padding:.1rem .5rem;border-radius:.3rem;background:#e5e7eb}.error{color:#a40e26}.ok{color:#116329}
form{margin:1rem 0}button{font-size:1rem;padding:.4rem 1rem;margin-right:.5rem}textarea,input[type=password]{width:100%;box-sizing:border-box;font:inherit}
label{display:block;margin:.5rem 0}`;

/** The security headers of every page: no script, nothing from elsewhere, forms post only here, never framed, no referrer to other origins. */
const HEADERS: Record<string, string> = {
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-frame-options': 'DENY',
  'referrer-policy': 'same-origin',
};

/** A whole page as a Reply. */
export function pageReply(title: string, body: Html, status = 200, headers: Record<string, string> = {}): Reply {
  const page = html`<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${title} · Mandate</title><style>${new Html(STYLE)}</style></head><body>${body}</body></html>`;
  return { status, body: page.text, type: 'text', contentType: 'text/html; charset=utf-8', headers: { ...HEADERS, ...headers } };
}
