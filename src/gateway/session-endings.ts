// Why the gateway ends a session before its agent does: the authority it was opened
// under is gone. Each ending has a stable code (the `data.code` of a refused
// initialize) and the message the agent's requests still open are answered with.
// SessionEndings remembers the latest endings, so a session that was still being
// opened when its authority ended is refused once it is open.
import type { CredentialChange } from '../credentials/broker.ts';
import type { EndedMandates } from '../delegation/mandates.ts';
import type { Agent } from '../store/types.ts';
/** What a session holds authority from: its mandate, the agents of its chain, the credentials injected into its upstream. */
export interface SessionOwner {
  mandateId: string;
  /** SPIFFE IDs, current actor first: the agent and those that delegated to it. */
  agents: readonly string[];
  credentials: readonly string[];
}

/** Which sessions to end: those of these mandates, of an agent anywhere in their chain, or given a credential. */
export type SessionSelector = { mandates: readonly string[] } | { agent: string } | { credential: string };

/** Why sessions ended: a stable code, and the message an agent's open requests are answered with. */
export interface SessionEnding {
  code: string;
  message: (owner: SessionOwner) => string;
}

/** Endings remembered for sessions still opening; one opening while more than this happened is refused (fail closed). */
const REMEMBERED_ENDINGS = 1024;

const selects = (selector: SessionSelector): ((owner: SessionOwner) => boolean) => {
  if ('mandates' in selector) {
    const ids = new Set(selector.mandates);
    return (owner) => ids.has(owner.mandateId);
  }
  if ('agent' in selector) return (owner) => owner.agents.includes(selector.agent);
  return (owner) => owner.credentials.includes(selector.credential);
};

/** The endings so far, numbered: a session opened since revision N is checked against those after N. */
export class SessionEndings {
  /** How many endings there have been. */
  revision = 0;
  readonly #recent: Array<{ revision: number; selects: (owner: SessionOwner) => boolean; ending: SessionEnding }> = [];

  /** Records an ending; answers whether it applies to a session of a given owner. */
  add(selector: SessionSelector, ending: SessionEnding): (owner: SessionOwner) => boolean {
    const matches = selects(selector);
    this.revision += 1;
    this.#recent.push({ revision: this.revision, selects: matches, ending });
    if (this.#recent.length > REMEMBERED_ENDINGS) this.#recent.shift();
    return matches;
  }

  /** The ending since `revision` that applies to a session of `owner`, if any (fail closed past what is remembered). */
  since(revision: number, owner: SessionOwner): { code: string; message: string } | null {
    if (revision === this.revision) return null;
    const oldest = this.#recent[0]?.revision ?? this.revision + 1;
    if (revision + 1 < oldest) return { code: 'session_ended', message: 'too much authority ended while the session was opening: open it again' };
    const found = this.#recent.find((e) => e.revision > revision && e.selects(owner));
    return found ? { code: found.ending.code, message: found.ending.message(owner) } : null;
  }
}

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
