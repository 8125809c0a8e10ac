import { positional, type Parsed } from '../args.ts';
import type { Command } from '../context.ts';

interface GroupView { name: string; members: string[]; created_at: string }

const memberPath = (parsed: Parsed): string =>
  `/api/v1/groups/${encodeURIComponent(positional(parsed, 0, 'the group name'))}/members/${encodeURIComponent(positional(parsed, 1, 'the person id'))}`;

const show = (group: GroupView): Array<[string, unknown]> => [['group', group.name], ['members', group.members.length > 0 ? group.members : 'none'], ['created', group.created_at]];

export const groupCommands: Command[] = [
  {
    words: ['group', 'add'], usage: 'mandate group add <name> [--member ID]...', summary: 'add a group of people (approval policies may name it: group:<name>)',
    options: { member: { type: 'string', multiple: true } },
    run: async (parsed, { api, out }) => {
      const members = ((parsed.values.member as string[] | undefined) ?? []).flatMap((m) => m.split(',')).map((m) => m.trim()).filter((m) => m.length > 0);
      const group = await (await api()).request<GroupView>('POST', '/api/v1/groups', { name: positional(parsed, 0, 'the group name'), members });
      out.record({ ...group }, show(group));
    },
  },
  {
    words: ['group', 'list'], usage: 'mandate group list', summary: 'list groups and their members',
    run: async (_parsed, { api, out }) => {
      const { groups } = await (await api()).request<{ groups: GroupView[] }>('GET', '/api/v1/groups');
      out.table('groups', groups.map((g) => ({ ...g })), ['name', 'members', 'created_at']);
    },
  },
  {
    words: ['group', 'add-member'], usage: 'mandate group add-member <name> <person>', summary: 'add a person to a group',
    run: async (parsed, { api, out }) => {
      const group = await (await api()).request<GroupView>('PUT', memberPath(parsed));
      out.record({ ...group }, show(group));
    },
  },
  {
    words: ['group', 'remove-member'], usage: 'mandate group remove-member <name> <person>', summary: 'remove a person from a group',
    run: async (parsed, { api, out }) => {
      const group = await (await api()).request<GroupView>('DELETE', memberPath(parsed));
      out.record({ ...group }, show(group));
    },
  },
];
