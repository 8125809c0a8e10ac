// /api/v1/credentials: the credential broker's control plane, admin only. A secret
// goes in (on create and replace) and never comes out: every answer is the
// credential's metadata — name, server, how it is injected, the id of the key its
// data key is wrapped with, when it changed — never the secret, its sealed form or its
// wrapped key.
import { z } from 'zod';
import { MAX_SECRET_LENGTH, MIN_SECRET_LENGTH } from '../../credentials/injection.ts';
import type { SealedCredential } from '../../store/types.ts';
import { route } from './route.ts';

const tag = 'credentials';
const time = z.string().describe('RFC 3339 time');
const iso = (seconds: number | null): string | null => (seconds === null ? null : new Date(seconds * 1000).toISOString());

const Secret = z.string().min(MIN_SECRET_LENGTH).max(MAX_SECRET_LENGTH).meta({ writeOnly: true })
  .describe('the secret; stored sealed, injected upstream, never returned (printable ASCII for a header)');

const CredentialView = z.object({
  id: z.string(), name: z.string(), server: z.string(),
  inject: z.union([
    z.object({ header: z.string().describe('lower case'), format: z.string().describe('the header value, {secret} standing for the secret') }),
    z.object({ env: z.string().describe('the variable set in the stdio upstream\'s environment') }),
  ]),
  kek_id: z.string().describe('the key-encryption key its data key is wrapped with'),
  created_at: time, rotated_at: time.nullable().describe('when its secret was last replaced'),
  rewrapped_at: time.nullable().describe('when its data key was last wrapped under another key-encryption key'),
});

/** What is shown of a credential: never the secret, the sealed blob or the wrapped key. */
export const credentialView = (c: SealedCredential): z.infer<typeof CredentialView> => ({
  id: c.id, name: c.name, server: c.server,
  inject: c.injection.kind === 'header' ? { header: c.injection.header, format: c.injection.format } : { env: c.injection.variable },
  kek_id: c.kekId, created_at: iso(c.createdAt) as string, rotated_at: iso(c.rotatedAt), rewrapped_at: iso(c.rewrappedAt),
});

export const credentialRoutes = [
  route({
    method: 'POST', path: '/api/v1/credentials', tag, access: 'admin', status: 201,
    summary: 'Add a credential for a server: sealed at rest, injected into its upstream as a header or (stdio) an environment variable',
    body: z.strictObject({
      name: z.string().min(1).max(63),
      server: z.string().min(1).max(63),
      inject: z.union([
        z.strictObject({ header: z.string().min(1).max(128), format: z.string().max(256).optional().describe('default "{secret}"; e.g. "Bearer {secret}"') }),
        z.strictObject({ env: z.string().min(1).max(128) }),
      ]),
      secret: Secret,
    }),
    response: CredentialView,
    handle: async ({ app, body, now }) => {
      const inject = 'header' in body.inject ? { header: body.inject.header, format: body.inject.format } : { env: body.inject.env };
      return credentialView(await app.credentials.add({ name: body.name, server: body.server, inject, secret: body.secret }, now));
    },
  }),
  route({
    method: 'GET', path: '/api/v1/credentials', tag, access: 'admin', summary: 'List credentials (`?server=` for one server\'s), without their secrets',
    response: z.object({ credentials: z.array(CredentialView) }),
    handle: async ({ app, query }) => ({ credentials: (await app.credentials.list(query.get('server') ?? undefined)).map(credentialView) }),
  }),
  route({
    method: 'POST', path: '/api/v1/credentials/rotate-kek', tag, access: 'admin',
    summary: 'Wrap every data key under the current key-encryption key (those under the previous one are unwrapped with it); the secrets are not re-encrypted',
    response: z.object({ kek_id: z.string(), rewrapped: z.number().int(), unchanged: z.number().int() }),
    handle: async ({ app, now }) => {
      const result = await app.credentials.rotate(now);
      return { kek_id: result.kekId, rewrapped: result.rewrapped, unchanged: result.unchanged };
    },
  }),
  route({
    method: 'GET', path: '/api/v1/credentials/{id}', tag, access: 'admin', summary: 'Show one credential, without its secret', response: CredentialView,
    handle: async ({ app, params }) => credentialView(await app.credentials.get(params.id as string)),
  }),
  route({
    method: 'PUT', path: '/api/v1/credentials/{id}/secret', tag, access: 'admin',
    summary: 'Replace a credential\'s secret (sealed under a fresh data key); sessions and requests from now on get the new one',
    body: z.strictObject({ secret: Secret }),
    response: CredentialView,
    handle: async ({ app, params, body, now }) => credentialView(await app.credentials.replaceSecret(params.id as string, body.secret, now)),
  }),
  route({
    method: 'DELETE', path: '/api/v1/credentials/{id}', tag, access: 'admin', summary: 'Remove a credential (its sealed secret is deleted)',
    response: z.object({ removed: z.string() }),
    handle: async ({ app, params }) => {
      await app.credentials.remove(params.id as string);
      return { removed: params.id as string };
    },
  }),
];
