// The Cedar request for `credential/use`: principal = the agent, resource = the
// credential (in its server), context = the mandate it acts under, what the
// credential is injected into and the time (see policies/schema.cedarschema).
import type { AuthorizationRequest, EntityRecord } from '../policy/engine.ts';
import { actionEntity, actorContext, callerEntities, mandateContext, timeContext, type MandateCaller } from '../policy/entities.ts';
import type { SealedCredential, Server } from '../store/types.ts';

/** A credential as the policy sees it: a sealed secret (`static`), or a provider's lease (`dynamic`, e.g. a PostgreSQL role). */
export interface CredentialRef {
  id: string;
  name: string;
  server: string;
  kind: 'static' | 'dynamic';
  inject: 'header' | 'env';
}

export const staticCredential = (credential: SealedCredential): CredentialRef => ({
  id: credential.id, name: credential.name, server: credential.server, kind: 'static', inject: credential.injection.kind,
});

/** Who a credential would be used for, as the gateway authenticated them. */
export type CredentialCaller = MandateCaller;

/** The servers a scope names (`fs/read_file` → `fs`). */
export const scopeServers = (scope: readonly string[]): string[] => [...new Set(scope.map((entry) => entry.slice(0, Math.max(0, entry.indexOf('/')))).filter((s) => s !== ''))].sort();

/** `call`: what the credential is injected into, as a scope entry (`fs/*` for a whole session). */
export function credentialUseRequest(caller: CredentialCaller, server: Server, credential: CredentialRef, call: string, now: number): AuthorizationRequest {
  const resource: EntityRecord = {
    uid: { type: 'Credential', id: credential.id },
    attrs: { name: credential.name, server: credential.server, kind: credential.kind, inject: credential.inject },
    parents: [{ type: 'Server', id: server.name }],
  };
  return {
    principal: { type: 'Agent', id: caller.agent.id },
    action: 'credential/use',
    resource: resource.uid,
    context: {
      ...mandateContext(caller),
      servers: scopeServers(caller.scope),
      call,
      server_environment: server.environment ?? '',
      ...actorContext(caller),
      risk: 0,
      time: timeContext(now),
    },
    entities: [...callerEntities(caller, server), resource, actionEntity('credential/use')],
  };
}
