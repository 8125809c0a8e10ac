// The failures of the verifiable audit ledger's formats and proofs. Each has a stable
// code, so the CLI (and an auditor's script) can name the first bad thing precisely;
// the message says which value was wrong and how.
import { MandateError } from '../errors.ts';

export type LedgerErrorCode =
  /** A hash is not 32 bytes, or not valid base64. */
  | 'hash_malformed'
  /** A tree size is not a non-negative safe integer, or exceeds what the store holds. */
  | 'tree_size_invalid'
  /** An inclusion proof names a leaf at or beyond the tree size. */
  | 'leaf_index_out_of_range'
  /** A consistency proof between sizes it cannot be made for (old size 0, old > new). */
  | 'proof_sizes_invalid'
  /** A proof has the wrong length or does not reproduce the given root(s). */
  | 'proof_invalid'
  /** The hash store lacks a hash that a proof, root or tile needs. */
  | 'hash_missing'
  /** A persisted incremental-tree state cannot be read back. */
  | 'tree_state_malformed'
  /** A signed note does not follow c2sp.org/signed-note. */
  | 'note_malformed'
  /** A verifier or signer key string does not follow the note key encoding. */
  | 'key_malformed'
  /** No signature on the note is by a known key. */
  | 'key_unknown'
  /** Two different known keys share one name and key ID. */
  | 'key_ambiguous'
  /** A signature by a known key does not verify. */
  | 'signature_invalid'
  /** A checkpoint body does not follow c2sp.org/tlog-checkpoint. */
  | 'checkpoint_malformed'
  /** A checkpoint is for another log than the one expected. */
  | 'checkpoint_origin_mismatch'
  /** A tile or entry-bundle path does not follow c2sp.org/tlog-tiles. */
  | 'tile_path_malformed'
  /** Tile data is not a whole number of hashes, or not the width it should be. */
  | 'tile_malformed'
  /** An entry bundle is truncated, or does not match its level-0 tile. */
  | 'entry_bundle_malformed'
  /** An entry is longer than an entry bundle's uint16 length prefix allows. */
  | 'entry_too_large';

export class LedgerError extends MandateError {
  constructor(code: LedgerErrorCode, message: string) {
    super(code, message, { status: code === 'hash_missing' ? 500 : 400 });
    this.name = 'LedgerError';
  }
}

export const ledgerError = (code: LedgerErrorCode, message: string): LedgerError => new LedgerError(code, message);
