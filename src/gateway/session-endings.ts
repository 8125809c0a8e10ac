// Why the gateway ends a session before its agent does: the authority it was opened
// under is gone. Each ending has a stable code (the `data.code` of a refused
// initialize) and the message the agent's requests still open are answered with.
import type { CredentialChange } from '../credentials/broker.ts';
import type { EndedMandates } from '../delegation/mandates.ts';
import type { Agent } from '../store/types.ts';
import type { SessionEnding } from './gateway.ts';

export const mandateEnded = (state: EndedMandates['state']): SessionEnding => ({
  code: `mandate_${state}`,
  message: (owner) => `the session has ended: mandate ${owner.mandateId} was ${state}`,
});

/** The agent, or one above it in the session's delegation chain, was suspended or retired. */
export const agentStopped = (agent: Agent): SessionEnding => ({
  code: 'agent_inactive',
  message: (owner) => (owner.agents[0] === agent.spiffeId
    ? `the session has ended: agent ${agent.name} was ${agent.status}`
    : `the session has ended: agent ${agent.name}, which delegated mandate ${owner.mandateId}, was ${agent.status}`),
});

export const credentialChanged = ({ id, change }: CredentialChange): SessionEnding => ({
  code: `credential_${change}`,
  message: () => `the session has ended: credential ${id}, injected into its upstream, was ${change === 'removed' ? 'removed' : 'given a new secret'}; a new session gets what is current`,
});
