// Who is asking: the operator holding the admin credential, a person (embedded or
// from an external OIDC issuer), or an authenticated agent.
import { forbidden } from '../errors.ts';
import type { Agent, Person } from '../store/types.ts';

export type Caller =
  | { kind: 'admin' }
  | { kind: 'person'; person: Person }
  | { kind: 'agent'; agent: Agent };

export function requireAdmin(caller: Caller): void {
  if (caller.kind !== 'admin') throw forbidden('admin_required', 'this operation needs the admin credential');
}

/** The admin, or the person named. */
export function requireAdminOrPerson(caller: Caller, personId: string): void {
  if (caller.kind === 'admin') return;
  if (caller.kind === 'person' && caller.person.id === personId) return;
  throw forbidden('not_permitted', `only the admin or ${personId} may do this`);
}

export const describeCaller = (caller: Caller): string =>
  caller.kind === 'admin' ? 'admin' : caller.kind === 'person' ? `person ${caller.person.id}` : `agent ${caller.agent.spiffeId}`;
