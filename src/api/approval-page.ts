// The approval page: where a person, in a browser, sees exactly what an agent asks to
// do and approves or denies it. It is the URL a URL-mode elicitation sends the person
// at the MCP client to, and what notifications link to (`page` of an approval).
//
// The URL names only the approval: it grants nothing. Whoever opens it signs in as a
// person (a Mandate person token, or an ID token of a configured OIDC issuer, the
// credentials the control plane takes), and the decision goes through the same checks
// as REST: only a person the policies name may decide, never an agent, never the admin
// credential. The sign-in is kept in an HttpOnly, SameSite=Strict cookie scoped to
// /approve, and verified again on every request (so an expired or revoked token, or a
// deactivated person, is signed out). A decision's form carries a token derived from
// that sign-in and is refused from another origin.
//
//   GET  /approve                 the approvals waiting that the person may see (or the sign-in form)
//   GET  /approve/{id}            the approval, with Approve/Deny when it is pending (or the sign-in form)
//   POST /approve[/{id}]/sign-in  token=… → sets the sign-in, back to the page
//   POST /approve/{id}/decide     decision=approve|deny, for=, note=, csrf= → back to the page
//   POST /approve[/{id}]/sign-out clears the sign-in
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { App } from '../app.ts';
import type { Approval } from '../approvals/types.ts';
import { MandateError, forbidden } from '../errors.ts';
import type { Caller } from '../identity/caller.ts';
import { authenticateBearer } from './authenticate.ts';
import { html, pageReply, type Html } from './html.ts';
import { readForm, type Reply, type RequestContext, type RouteDef } from './http.ts';

const COOKIE = 'mandate_person';
const PATH = '/approve';
const TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
/** "Approve this and identical calls for …" choices offered, in minutes (those within the cap). */
const REPEAT_CHOICES = [5, 15, 60];

type Person = Extract<Caller, { kind: 'person' }>;

export function approvalPageRoutes(app: App): RouteDef[] {
  const secure = app.config.publicUrl.startsWith('https:');
  const origin = new URL(app.config.publicUrl).origin;
  const sameOrigin = (req: IncomingMessage) => refuseOtherOrigins(req, origin, secure);
  /** The page of one approval, or (null) the list of those waiting. */
  const pageOf = (id: string | null) => (id === null ? PATH : `${PATH}/${encodeURIComponent(id)}`);
  const back = (id: string | null, headers: Record<string, string> = {}): Reply => ({ status: 303, headers: { location: pageOf(id), ...headers } });
  const cookie = (value: string, clear = false) => `${COOKIE}=${value}; Path=${PATH}; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}${clear ? '; Max-Age=0' : ''}`;

  /** The person signed in by the cookie, or null (none, or no longer valid). */
  async function signedIn(req: IncomingMessage, now: number): Promise<{ caller: Person; token: string } | null> {
    const token = cookieValue(req.headers.cookie, COOKIE);
    if (token === null || !TOKEN.test(token)) return null;
    const caller = await authenticateBearer(app, token, now).catch(() => null);
    return caller?.kind === 'person' ? { caller, token } : null;
  }

  /** What one page answers; a refusal becomes a page that says it. */
  const guarded = (handle: (ctx: RequestContext) => Promise<Reply>) => async (ctx: RequestContext): Promise<Reply> => {
    try {
      return await handle(ctx);
    } catch (error) {
      const known = error instanceof MandateError ? error : new MandateError('internal_error', 'the page could not be shown', { status: 500 });
      return pageReply('Approval', html`<h1>Approval</h1><p class="error" role="alert">${known.message}</p>`, known.status);
    }
  };

  async function show(id: string, who: { caller: Person; token: string }, now: number, problem: string | null = null): Promise<Reply> {
    let approval: Approval;
    try {
      approval = await app.approvals.show(who.caller, id, now);
    } catch (error) {
      if (!(error instanceof MandateError) || error.status !== 404) throw error;
      return pageReply('Approval', html`<h1>Approval</h1><p class="error" role="alert">There is no approval ${id} that ${who.caller.person.id} may see.</p>${signOut(id, who.caller)}`, 404);
    }
    const body = await approvalBody(app, approval, csrfFor(who.token, id), problem);
    return pageReply(`Approval ${approval.id}`, html`${body}${signOut(id, who.caller)}`, problem === null ? 200 : 403);
  }

  /** The approvals waiting for a decision that this person may see (those they may decide, or started), soonest to expire first. */
  async function waiting(who: { caller: Person }, now: number): Promise<Reply> {
    const pending = (await app.approvals.list(who.caller, { state: 'pending' }, now)).sort((a, b) => a.expiresAt - b.expiresAt);
    const rows = pending.map((a) => html`<tr><td><a href="${pageOf(a.id)}">${a.binding.method === 'http/request' ? a.binding.target : `${a.binding.server}/${a.binding.target}`}</a></td><td><code>${a.binding.agent}</code></td><td>${a.initiator}</td><td>${new Date(a.expiresAt * 1000).toISOString()}</td></tr>`);
    return pageReply('Approvals waiting', html`<h1>Approvals waiting</h1>
${pending.length === 0 ? html`<p id="none">Nothing is waiting for ${who.caller.person.id}.</p>` : html`<table id="waiting"><thead><tr><th>Call</th><th>Agent</th><th>For</th><th>Expires</th></tr></thead><tbody>${rows}</tbody></table>`}
${signOut(null, who.caller)}`);
  }

  const signOut = (id: string | null, caller: Person) => html`<form method="post" action="${pageOf(id)}/sign-out"><p>Signed in as <strong>${caller.person.id}</strong>. <button type="submit">Sign out</button></p></form>`;

  const view = async (id: string | null, { req, now }: RequestContext): Promise<Reply> => {
    const who = await signedIn(req, now);
    if (!who) return signInPage(id, null);
    return id === null ? waiting(who, now) : show(id, who, now);
  };

  const signIn = async (id: string | null, { req, now }: RequestContext): Promise<Reply> => {
    sameOrigin(req);
    const token = (await readForm(req, 'problem')).get('token')?.trim() ?? '';
    if (!TOKEN.test(token)) return signInPage(id, 'Paste a whole token: it has no spaces or line breaks.', 401);
    let caller: Caller;
    try {
      caller = await authenticateBearer(app, token, now);
    } catch (error) {
      return signInPage(id, `That token was refused: ${(error as Error).message}.`, 401);
    }
    if (caller.kind !== 'person') return signInPage(id, 'Sign in as a person. The admin credential can deny approvals from the command line, but it is nobody in particular and never approves.', 403);
    return back(id, { 'set-cookie': cookie(token) });
  };

  const signOutOf = async (id: string | null, { req }: RequestContext): Promise<Reply> => {
    sameOrigin(req);
    req.resume();
    return back(id, { 'set-cookie': cookie('', true) });
  };

  const decide = async (id: string, { req, now }: RequestContext): Promise<Reply> => {
    sameOrigin(req);
    const form = await readForm(req, 'problem');
    const who = await signedIn(req, now);
    if (!who) return signInPage(id, 'Your sign-in has ended: sign in again to decide.', 401);
    if (!sameText(form.get('csrf') ?? '', csrfFor(who.token, id))) throw forbidden('form_expired', 'this form was not made for your sign-in: open the approval again and decide there');
    const note = form.get('note')?.trim() || undefined;
    try {
      if (form.get('decision') === 'approve') {
        const minutes = Number(form.get('for') ?? '0');
        await app.approvals.approve(who.caller, id, { forSeconds: Number.isInteger(minutes) && minutes > 0 ? minutes * 60 : undefined, note }, now);
      } else if (form.get('decision') === 'deny') {
        await app.approvals.deny(who.caller, id, { note }, now);
      } else {
        return show(id, who, now, 'Choose Approve or Deny.');
      }
    } catch (error) {
      if (!(error instanceof MandateError) || error.status === 404 || error.status >= 500) throw error;
      return show(id, who, now, error.message);
    }
    return back(id);
  };

  const idOf = (ctx: RequestContext) => ctx.params.id as string;
  const page = (method: 'GET' | 'POST', path: string, handle: (ctx: RequestContext) => Promise<Reply>): RouteDef => ({ method, path, errorStyle: 'problem', handle: guarded(handle) });
  return [
    page('GET', PATH, (ctx) => view(null, ctx)),
    page('POST', `${PATH}/sign-in`, (ctx) => signIn(null, ctx)),
    page('POST', `${PATH}/sign-out`, (ctx) => signOutOf(null, ctx)),
    page('GET', `${PATH}/{id}`, (ctx) => view(idOf(ctx), ctx)),
    page('POST', `${PATH}/{id}/sign-in`, (ctx) => signIn(idOf(ctx), ctx)),
    page('POST', `${PATH}/{id}/decide`, (ctx) => decide(idOf(ctx), ctx)),
    page('POST', `${PATH}/{id}/sign-out`, (ctx) => signOutOf(idOf(ctx), ctx)),
  ];

  function signInPage(id: string | null, problem: string | null, status = 200): Reply {
    return pageReply('Sign in to decide', html`<h1>${id === null ? 'Sign in to see the approvals waiting for you' : html`Sign in to decide approval ${id}`}</h1>
<p>${id === null ? 'Agents may be waiting for your yes or no.' : 'An agent is waiting for a person\'s yes or no.'} Sign in as yourself to see what they ask and to decide.</p>
${problem === null ? '' : html`<p class="error" role="alert">${problem}</p>`}
<form method="post" action="${pageOf(id)}/sign-in">
<label>Person token <input type="password" name="token" autocomplete="off" required></label>
<p>A token from <code>mandate login &lt;your id&gt;</code>, or an ID token from your organisation's identity provider.</p>
<button type="submit">Sign in</button>
</form>`, status);
  }
}

/** The approval: what is asked, by whom, for whom; its state; and the decision form while it is pending. */
async function approvalBody(app: App, approval: Approval, csrf: string, problem: string | null): Promise<Html> {
  const { server, method, target, mandateId, agent, argumentsDigest } = approval.binding;
  const when = (seconds: number | null) => (seconds === null ? '' : new Date(seconds * 1000).toISOString());
  const who = await app.approvals.describeApprovers(approval);
  const task = (await app.store.getMandate(mandateId))?.purpose ?? null;
  const repeat = REPEAT_CHOICES.filter((m) => m * 60 <= app.config.approvalMaxRepeat);
  const pending = approval.state === 'pending';
  return html`<h1>${pending ? 'Approve' : 'Approval of'} ${method === 'http/request' ? target : `${server}/${target}`}?</h1>
<p><span class="state" data-state="${approval.state}">${approval.state}</span>${approval.decidedBy ? html` by ${approval.decidedBy}` : ''}${approval.note ? html`: “${approval.note}”` : ''}</p>
<p>Agent <code>${agent}</code>, acting for <strong>${approval.initiator}</strong> under mandate <code>${mandateId}</code>, asks to make this ${method === 'http/request' ? 'request' : 'call'} on <strong>${server}</strong>:</p>
${task === null ? '' : html`<p>The task, as the mandate names it: <q id="purpose">${task}</q></p>`}
<pre id="preview">${JSON.stringify(approval.preview ?? null, null, 2)}</pre>
<dl>
<dt>What</dt><dd>${method} ${target}</dd>
<dt>Asked by policy</dt><dd>${approval.policies.join(', ')}</dd>
<dt>Who may decide</dt><dd>${who}</dd>
<dt>${pending ? 'Expires' : 'Decided'}</dt><dd>${pending ? when(approval.expiresAt) : when(approval.decidedAt)}</dd>
${approval.usableUntil !== null && approval.state === 'approved' ? html`<dt>Usable until</dt><dd>${when(approval.repeatUntil ?? approval.usableUntil)} (${approval.uses} of ${approval.maxUses} uses)</dd>` : ''}
<dt>Arguments digest</dt><dd><code>${argumentsDigest}</code></dd>
<dt>Approval digest</dt><dd><code>${approval.digest}</code></dd>
</dl>
<p>Approving lets exactly this ${method === 'http/request' ? 'request' : 'call'} through: the same ${method === 'http/request' ? 'request' : 'arguments'}, by the same agent, under the same mandate. Anything else needs its own approval.</p>
${problem === null ? '' : html`<p class="error" role="alert">${problem}</p>`}
${pending ? html`<form method="post" action="${PATH}/${encodeURIComponent(approval.id)}/decide">
<input type="hidden" name="csrf" value="${csrf}">
<label>Also let identical calls through for <select name="for"><option value="0">no: only this once</option>${repeat.map((m) => html`<option value="${m}">${m} minutes</option>`)}</select></label>
<label>Note (optional) <textarea name="note" rows="2" maxlength="1000"></textarea></label>
<button type="submit" name="decision" value="approve">Approve</button><button type="submit" name="decision" value="deny">Deny</button>
</form>` : ''}`;
}

/** The value of one cookie, or null. */
function cookieValue(header: string | undefined, name: string): string | null {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}

/** The form token of one sign-in for one approval: only a page made for that sign-in carries it. */
const csrfFor = (token: string, id: string): string => createHash('sha256').update(`mandate approval form\n${id}\n${token}`).digest('base64url');

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * A form posted from another origin is refused (the cookie is SameSite=Strict as well,
 * but another port of the same host is the same site). Ours is the public URL's origin,
 * or the one the browser reached us at (Host). Pages are sent with
 * `Referrer-Policy: same-origin`, so a browser names the origin of a same-origin form
 * and says `null` for any other.
 */
function refuseOtherOrigins(req: IncomingMessage, origin: string, secure: boolean): void {
  const from = req.headers.origin;
  if (from === undefined || from === origin || from === `${secure ? 'https' : 'http'}://${req.headers.host ?? ''}`) return;
  req.resume();
  throw forbidden('cross_origin', `a form from ${from === 'null' ? 'another origin' : from} may not decide here`);
}
