import { z } from 'zod';
import { GroupView, groupView } from './schemas.ts';
import { route } from './route.ts';

const tag = 'groups';
const Person = z.string().min(1).max(128);

export const groupRoutes = [
  route({
    method: 'GET', path: '/api/v1/groups', tag, access: 'admin', summary: 'List the groups of the embedded directory, with their members',
    response: z.object({ groups: z.array(GroupView) }),
    handle: async ({ app }) => ({ groups: (await app.groups.list()).map(groupView) }),
  }),
  route({
    method: 'POST', path: '/api/v1/groups', tag, access: 'admin', status: 201,
    summary: 'Add a group (an approval policy may name it: `@approval("group:<name>")`), with its first members',
    body: z.strictObject({ name: z.string().min(1).max(64), members: z.array(Person).max(1000).optional() }),
    response: GroupView,
    handle: async ({ app, body, now }) => groupView(await app.groups.add(body, now)),
  }),
  route({
    method: 'GET', path: '/api/v1/groups/{name}', tag, access: 'admin', summary: 'Show one group', response: GroupView,
    handle: async ({ app, params }) => groupView(await app.groups.get(params.name as string)),
  }),
  route({
    method: 'PUT', path: '/api/v1/groups/{name}/members/{person}', tag, access: 'admin', summary: 'Add a person to a group (nothing changes when they are in it already)', response: GroupView,
    handle: async ({ app, params, now }) => groupView(await app.groups.addMember(params.name as string, params.person as string, now)),
  }),
  route({
    method: 'DELETE', path: '/api/v1/groups/{name}/members/{person}', tag, access: 'admin', summary: 'Remove a person from a group: they can no longer decide approvals as its member', response: GroupView,
    handle: async ({ app, params }) => groupView(await app.groups.removeMember(params.name as string, params.person as string)),
  }),
];
