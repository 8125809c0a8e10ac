import { z } from 'zod';
import { requireAdminOrPerson } from '../../identity/caller.ts';
import { PersonView, personView } from './schemas.ts';
import { route } from './route.ts';

const tag = 'people';

export const peopleRoutes = [
  route({
    method: 'POST', path: '/api/v1/users', tag, access: 'admin', status: 201, summary: 'Add a person to the embedded directory',
    body: z.strictObject({ id: z.string().min(1).max(128), email: z.email().max(320).optional(), name: z.string().min(1).max(200).optional() }),
    response: PersonView,
    handle: async ({ app, body, now }) => personView(await app.people.add(body, now)),
  }),
  route({
    method: 'GET', path: '/api/v1/users', tag, access: 'admin', summary: 'List people', response: z.object({ users: z.array(PersonView) }),
    handle: async ({ app }) => ({ users: (await app.store.listPeople()).map(personView) }),
  }),
  route({
    method: 'GET', path: '/api/v1/users/{id}', tag, access: 'authenticated', summary: 'Show one person', response: PersonView,
    handle: async ({ app, caller, params }) => {
      requireAdminOrPerson(caller!, params.id as string);
      return personView(await app.people.get(params.id as string));
    },
  }),
  route({
    method: 'POST', path: '/api/v1/users/{id}/deactivate', tag, access: 'admin', summary: 'Deactivate a person: their tokens stop working, and every mandate they granted is revoked with everything delegated below it', response: PersonView,
    handle: async ({ app, caller, params, now }) => {
      const person = await app.people.setStatus(params.id as string, 'deactivated');
      // Their authority ends with them: every mandate they granted, and all delegated below.
      await app.mandates.personDeactivated(person, caller!, now);
      return personView(person);
    },
  }),
  route({
    method: 'POST', path: '/api/v1/users/{id}/activate', tag, access: 'admin', summary: 'Reactivate a person', response: PersonView,
    handle: async ({ app, params }) => personView(await app.people.setStatus(params.id as string, 'active')),
  }),
  route({
    method: 'POST', path: '/api/v1/users/{id}/login', tag, access: 'admin', summary: 'Issue a person token from the embedded identity provider (valid 1 h)',
    response: z.object({ token: z.string(), token_type: z.literal('Bearer'), expires_at: z.string() }),
    handle: async ({ app, params, now }) => {
      const { token, expiresAt } = await app.people.login(params.id as string, now);
      return { token, token_type: 'Bearer' as const, expires_at: new Date(expiresAt * 1000).toISOString() };
    },
  }),
  route({
    method: 'GET', path: '/api/v1/whoami', tag, access: 'authenticated', summary: 'Who the presented credential speaks for',
    response: z.object({ kind: z.enum(['admin', 'person', 'agent']), id: z.string() }),
    handle: async ({ caller }) => ({ kind: caller!.kind, id: caller!.kind === 'admin' ? 'admin' : caller!.kind === 'person' ? caller!.person.id : caller!.agent.id }),
  }),
];
