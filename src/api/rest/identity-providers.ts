import { z } from 'zod';
import { IdentityProviderView, identityProviderView } from './schemas.ts';
import { route } from './route.ts';

const tag = 'identity providers';

export const identityProviderRoutes = [
  route({
    method: 'POST', path: '/api/v1/identity-providers', tag, access: 'admin', status: 201,
    summary: 'Trust an external OpenID Connect issuer: its tokens are accepted as person tokens after full verification',
    body: z.strictObject({
      name: z.string().min(1).max(63), issuer: z.string().min(1).max(2000), audience: z.string().min(1).max(2000),
      jwks_uri: z.string().min(1).max(2000), subject_claim: z.string().min(1).max(100).optional(),
    }),
    response: IdentityProviderView,
    handle: async ({ app, body, now }) => identityProviderView(await app.external.add({ name: body.name, issuer: body.issuer, audience: body.audience, jwksUri: body.jwks_uri, subjectClaim: body.subject_claim }, now)),
  }),
  route({
    method: 'GET', path: '/api/v1/identity-providers', tag, access: 'admin', summary: 'List trusted OIDC issuers',
    response: z.object({ identity_providers: z.array(IdentityProviderView) }),
    handle: async ({ app }) => ({ identity_providers: app.external.list().map(identityProviderView) }),
  }),
  route({
    method: 'DELETE', path: '/api/v1/identity-providers/{name}', tag, access: 'admin', summary: 'Stop trusting an OIDC issuer',
    response: z.object({ removed: z.string() }),
    handle: async ({ app, params }) => {
      await app.external.remove(params.name as string);
      return { removed: params.name as string };
    },
  }),
];
