// What a governed request is told when its call could not be counted against the
// mandate's budget, or that of a mandate above it in the delegation chain.
import type { CallCount } from '../store/types.ts';

/** Why an uncounted call is refused: its stable code and the message the caller sees. */
export function callCountRefusal(count: Exclude<CallCount, 'ok'>, mandateId: string): { code: string; message: string } {
  switch (count) {
    case 'exhausted': return { code: 'mandate_exhausted', message: `denied: mandate ${mandateId} has used all its calls` };
    case 'parent_exhausted': return { code: 'parent_mandate_exhausted', message: `denied: a mandate that ${mandateId} was delegated from has used all its calls` };
    case 'parent_not_active': return { code: 'parent_mandate_not_active', message: `denied: a mandate that ${mandateId} was delegated from is no longer active` };
    default: return { code: 'mandate_not_active', message: `denied: mandate ${mandateId} is no longer active` };
  }
}