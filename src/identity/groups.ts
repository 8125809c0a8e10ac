// Groups: the embedded group directory. A group is a name and the people in it; an
// approval policy names one as its approvers (`@approval("group:<name>")`), and any
// member may then decide. Membership is read afresh on every decision.
import { badRequest, notFound } from '../errors.ts';
import type { Group, Store } from '../store/types.ts';

/** A group's name, as `group:<name>` in an approver spec accepts it (src/approvals/types.ts). */
export const GROUP_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;

export class Groups {
  readonly #store: Store;

  constructor(store: Store) {
    this.#store = store;
  }

  async add(input: { name: string; members?: string[] | undefined }, now: number): Promise<Group> {
    assertGroupName(input.name);
    await this.#store.createGroup({ name: input.name, members: [...new Set(input.members ?? [])].sort(), createdAt: now });
    return this.get(input.name);
  }

  async get(name: string): Promise<Group> {
    const group = await this.#store.getGroup(name);
    if (!group) throw notFound('group_not_found', `no group named ${name}`);
    return group;
  }

  list(): Promise<Group[]> {
    return this.#store.listGroups();
  }

  /** The names of the groups the person is in. */
  of(person: string): Promise<string[]> {
    return this.#store.groupsOf(person);
  }

  async addMember(name: string, person: string, now: number): Promise<Group> {
    await this.#store.addGroupMember(name, person, now);
    return this.get(name);
  }

  async removeMember(name: string, person: string): Promise<Group> {
    const group = await this.get(name);
    if (!(await this.#store.removeGroupMember(group.name, person))) throw notFound('member_not_found', `${person} is not a member of group ${name}`);
    return this.get(name);
  }
}

export function assertGroupName(name: string): void {
  if (!GROUP_NAME.test(name)) throw badRequest('invalid_group_name', `group name "${name}" must be 1–64 characters: lower-case letters, digits, ".", "_", "-", starting with a letter or digit`);
}
