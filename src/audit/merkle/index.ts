// The verifiable audit ledger's core: RFC 9162 Merkle trees (hashes, the incremental
// tree, inclusion and consistency proofs) stored and served as C2SP tlog-tiles, with
// C2SP tlog-checkpoint signed tree heads. Pure: node:crypto, no I/O of its own.
export { EMPTY_ROOT, HASH_SIZE, equalHashes, leafHash, nodeHash } from './hash.ts';
export { MemoryHashStore, TILE_HEIGHT, TILE_WIDTH, type HashPosition, type HashReader, type HashStore, type StoredHash } from './hash-store.ts';
export { merkleTreeHash, treeHashAt } from './tree-hash.ts';
export { IncrementalTree } from './incremental-tree.ts';
export { inclusionPathNodes, inclusionProof, rootFromInclusionProof, verifyInclusion, type InclusionClaim } from './inclusion-proof.ts';
export { consistencyProof, consistencyProofNodes, verifyConsistency, type ConsistencyClaim } from './consistency-proof.ts';
export type { NodeRange } from './node-range.ts';
export { formatCheckpoint, openCheckpoint, parseCheckpoint, signCheckpoint, type Checkpoint, type OpenedCheckpoint } from './checkpoint.ts';
export { encodeTileIndex, entryBundlePath, parseTilePath, tilePath, type ParsedTilePath, type TileCoordinates } from './tile-path.ts';
export { levelSize, readTile, tileHashes, tileWidth, tilesForGrowth } from './tile.ts';
export { MAX_ENTRY_SIZE, decodeEntryBundle, encodeEntryBundle, verifyEntryBundle } from './entry-bundle.ts';
