import { z } from 'zod';
import { route } from './route.ts';

const KeyView = z.object({ kid: z.string(), alg: z.literal('ES256'), state: z.enum(['next', 'current', 'retiring']), created_at: z.string(), retire_after: z.string().nullable() });
const tag = 'keys';

export const keyRoutes = [
  route({
    method: 'GET', path: '/api/v1/keys', tag, access: 'admin', summary: 'The token-signing keys and their states', response: z.object({ keys: z.array(KeyView) }),
    handle: async ({ app }) => ({
      keys: app.keys.describe().map((k) => ({
        kid: k.kid, alg: k.alg, state: k.state, created_at: new Date(k.createdAt * 1000).toISOString(),
        retire_after: k.retireAfter === null ? null : new Date(k.retireAfter * 1000).toISOString(),
      })),
    }),
  }),
  route({
    method: 'POST', path: '/api/v1/keys/rotate', tag, access: 'admin',
    summary: 'Rotate: the pre-published key starts signing, the old one stays published until its tokens expire, a new key is pre-published',
    response: z.object({ current: z.string(), next: z.string() }),
    handle: async ({ app, now }) => {
      // Mandate tokens live longest (up to the maximum mandate TTL); the old key must outlive them.
      const longest = Math.max(app.config.mandateMaxTtl, app.config.personTokenTtl, app.config.taskTokenTtl) + app.config.clockTolerance;
      await app.keys.rotate(longest, now);
      const keys = app.keys.describe();
      return { current: keys.find((k) => k.state === 'current')?.kid ?? '', next: keys.find((k) => k.state === 'next')?.kid ?? '' };
    },
  }),
];
