// `mandate audit verify`: checks a whole audit log against the log's public key alone,
// trusting nothing the server computed. Every entry is re-hashed and the tree rebuilt
// from them; every checkpoint's signature is checked, and its root compared with the
// rebuilt tree at its size; and where the source keeps the server's tree hashes (the
// store does, an export file does not), those are compared too, and consistency
// proofs made from them between successive checkpoints are verified. The first bad
// thing is named precisely: which event, moved, altered or missing, or which
// checkpoint the events no longer match.
import { entryLeafHash } from './entry.ts';
import { IncrementalTree, consistencyProof, equalHashes, openCheckpoint, verifyConsistency, type Checkpoint, type HashReader } from './merkle/index.ts';
import { parseVerifierKey } from './note/index.ts';

export interface LedgerRecord {
  /** The sequence number the source files the entry under. */
  seq: number;
  /** The entry's exact text. */
  entry: string;
  /** The leaf hash the source recorded with it (hex), when it keeps one. */
  hash?: string;
}

export interface LedgerSource {
  /** For people: `the store in <dir>`, `<file>`. */
  readonly description: string;
  /** Every entry, in the source's order. */
  records(): AsyncIterable<LedgerRecord>;
  /** Every signed checkpoint note the source holds. */
  checkpoints(): Promise<string[]>;
  /** The size of the tree state the source persisted, when it keeps one. */
  treeSize?: number | null;
  /** The server's stored tree hashes, when the source keeps them. */
  hashes?: HashReader;
}

export type VerifyProblemCode =
  | 'checkpoint_invalid' | 'checkpoints_forked' | 'event_missing' | 'event_moved' | 'entry_malformed' | 'event_altered'
  | 'tree_hash_mismatch' | 'checkpoint_mismatch' | 'checkpoint_beyond_log' | 'tree_state_mismatch' | 'consistency_failed';

export interface VerifyProblem {
  code: VerifyProblemCode;
  message: string;
  /** The event concerned, when one is. */
  seq?: number;
  /** The checkpoint concerned (its tree size), when one is. */
  size?: number;
}

export interface VerifyReport {
  ok: boolean;
  origin: string;
  source: string;
  entries: number;
  checkpoints: number;
  /** The largest checkpoint size that verified against the entries. */
  verifiedSize: number;
  /** Consistency proofs between successive checkpoints verified from the source's stored hashes. */
  consistencyProofs: number;
  problems: VerifyProblem[];
}

const MAX_PROBLEMS = 50;

export async function verifyLedger(source: LedgerSource, verifierKey: string): Promise<VerifyReport> {
  const verifier = parseVerifierKey(verifierKey.trim());
  const origin = verifier.name;
  const problems: VerifyProblem[] = [];
  const problem = (p: VerifyProblem): void => {
    if (problems.length < MAX_PROBLEMS) problems.push(p);
  };

  // Checkpoints: each must be signed by the log's key; two of one size must agree.
  const signed = new Map<number, Checkpoint>();
  const notes = await source.checkpoints();
  for (const note of notes) {
    let checkpoint: Checkpoint;
    try {
      checkpoint = openCheckpoint(note, { origin, verifiers: [verifier] }).checkpoint;
    } catch (error) {
      const size = /^[^\n]*\n(\d+)\n/.exec(note)?.[1];
      problem({ code: 'checkpoint_invalid', size: size === undefined ? undefined : Number(size), message: `checkpoint${size === undefined ? '' : ` of size ${size}`} does not verify: ${(error as Error).message}` });
      continue;
    }
    const other = signed.get(checkpoint.size);
    if (other && !equalHashes(other.rootHash, checkpoint.rootHash)) {
      problem({ code: 'checkpoints_forked', size: checkpoint.size, message: `two checkpoints of size ${checkpoint.size} with different roots are both signed: the log forked` });
    }
    signed.set(checkpoint.size, checkpoint);
  }
  const sizes = [...signed.keys()].sort((a, b) => a - b);

  // Entries: in order, each where it says it is, each hashing to what was recorded.
  const tree = IncrementalTree.empty();
  let next = 0; // index into sizes
  let verifiedSize = 0;
  let lastGood = 0;
  const checkAt = (size: number): void => {
    while (next < sizes.length && (sizes[next] as number) === size) {
      const checkpoint = signed.get(size) as Checkpoint;
      if (equalHashes(tree.root(), checkpoint.rootHash)) {
        verifiedSize = size;
        lastGood = size;
      } else {
        problem({
          code: 'checkpoint_mismatch', size,
          message: `the signed checkpoint of size ${size} does not match events 1–${size}: ${lastGood === 0 ? 'an event up to' : `the checkpoint of size ${lastGood} matched, so an event from ${lastGood + 1} to`} ${size} was altered, removed, added or reordered since it was signed`,
        });
      }
      next++;
    }
  };
  checkAt(0);
  let lastSeq = 0;
  for await (const record of source.records()) {
    const expected = lastSeq + 1;
    lastSeq = Math.max(lastSeq, record.seq);
    if (record.seq !== expected) {
      problem(record.seq > expected
        ? { code: 'event_missing', seq: expected, message: `event ${expected}${record.seq > expected + 1 ? `–${record.seq - 1}` : ''} is missing: the log goes from event ${expected - 1} to ${record.seq} (removed, or moved later)` }
        : { code: 'event_moved', seq: record.seq, message: `event ${record.seq} comes after event ${expected - 1}: events were reordered` });
    }
    let claimed: unknown;
    try {
      claimed = (JSON.parse(record.entry) as { seq?: unknown }).seq;
    } catch {
      problem({ code: 'entry_malformed', seq: record.seq, message: `event ${record.seq} is not JSON: it was damaged after it was appended` });
    }
    if (claimed !== undefined && claimed !== record.seq) {
      problem({ code: 'event_moved', seq: record.seq, message: `the event filed as ${record.seq} says it is event ${String(claimed)}: events were reordered or renumbered` });
    }
    const leaf = entryLeafHash(record.entry);
    if (record.hash !== undefined && record.hash !== leaf.toString('hex')) {
      problem({ code: 'event_altered', seq: record.seq, message: `event ${record.seq} was altered after it was appended: its content no longer hashes to the leaf hash recorded with it` });
    }
    const completed = tree.append(leaf);
    if (source.hashes && completed.length > 1) {
      const above = completed.slice(1);
      const stored = await source.hashes.readHashes(above).catch(() => null);
      above.forEach(({ level, index, hash }, i) => {
        if (!stored || !equalHashes(stored[i] as Uint8Array, hash)) {
          const first = index * 256 ** level + 1;
          problem({ code: 'tree_hash_mismatch', seq: record.seq, message: `the stored tree hash over events ${first}–${first + 256 ** level - 1} (level ${level}, index ${index}) ${stored ? 'does not match them' : 'is missing'}: proofs and tiles from it would be wrong` });
        }
      });
    }
    checkAt(tree.size);
  }
  for (; next < sizes.length; next++) {
    const size = sizes[next] as number;
    problem({ code: 'checkpoint_beyond_log', size, message: `the signed checkpoint of size ${size} covers events ${tree.size + 1}–${size}, which the log no longer holds: they were removed` });
  }
  if (source.treeSize === null && tree.size > 0) {
    problem({ code: 'tree_state_mismatch', message: `the store holds ${tree.size} events but no tree state: it was removed outside the ledger` });
  } else if (source.treeSize !== undefined && source.treeSize !== null && source.treeSize !== tree.size) {
    problem({ code: 'tree_state_mismatch', message: `the store's tree state covers ${source.treeSize} events, the log holds ${tree.size}: events were ${source.treeSize > tree.size ? 'removed' : 'added'} outside the ledger` });
  }

  // Consistency: proofs between successive checkpoints, from the server's own hashes.
  let consistencyProofs = 0;
  if (source.hashes && problems.length === 0) {
    const good = sizes.filter((s) => s > 0 && s <= tree.size);
    for (let i = 1; i < good.length; i++) {
      const [oldSize, newSize] = [good[i - 1] as number, good[i] as number];
      try {
        const proof = await consistencyProof(source.hashes, oldSize, newSize);
        verifyConsistency({ oldSize, newSize, proof, oldRoot: (signed.get(oldSize) as Checkpoint).rootHash, newRoot: (signed.get(newSize) as Checkpoint).rootHash });
        consistencyProofs++;
      } catch (error) {
        problem({ code: 'consistency_failed', size: newSize, message: `no valid consistency proof from size ${oldSize} to ${newSize}: ${(error as Error).message}` });
      }
    }
  }
  return { ok: problems.length === 0, origin, source: source.description, entries: tree.size, checkpoints: notes.length, verifiedSize, consistencyProofs, problems };
}
