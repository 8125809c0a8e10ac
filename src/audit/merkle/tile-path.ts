// c2sp.org/tlog-tiles resource paths, relative to the log's prefix:
//   tile/<L>/<N>[.p/<W>]        Merkle tree tiles
//   tile/entries/<N>[.p/<W>]    entry bundles
// N is written in zero-padded 3-digit path elements, all but the last starting with
// `x` (1234067 → x001/x234/067); `.p/<W>` marks a partial tile of W < 256 hashes.
import { ledgerError } from '../ledger-error.ts';
import { TILE_WIDTH } from './hash-store.ts';

export interface TileCoordinates {
  /** Tile level, 0–63. */
  level: number;
  /** Tile index within the level. */
  index: number;
  /** Hashes in the tile: 256 for a full tile, 1–255 for a partial one. */
  width: number;
}

export type ParsedTilePath = ({ kind: 'tile' } & TileCoordinates) | { kind: 'entries'; index: number; width: number };

const MAX_LEVEL = 63;

function malformed(path: string, why: string): Error {
  return ledgerError('tile_path_malformed', `tile path ${JSON.stringify(path)}: ${why}`);
}

/** N in the x-prefixed 3-digit elements: 0 → "000", 1234067 → "x001/x234/067". */
export function encodeTileIndex(index: number): string {
  if (!Number.isSafeInteger(index) || index < 0) throw ledgerError('tile_path_malformed', `tile index must be a non-negative integer below 2^53, not ${String(index)}`);
  let digits = String(index);
  digits = digits.padStart(Math.ceil(digits.length / 3) * 3, '0');
  const groups = digits.match(/\d{3}/g) as string[];
  return groups.map((group, i) => (i < groups.length - 1 ? `x${group}` : group)).join('/');
}

function widthSuffix(width: number): string {
  if (!Number.isInteger(width) || width < 1 || width > TILE_WIDTH) throw ledgerError('tile_path_malformed', `tile width must be 1–${TILE_WIDTH}, not ${String(width)}`);
  return width === TILE_WIDTH ? '' : `.p/${width}`;
}

export function tilePath({ level, index, width }: TileCoordinates): string {
  if (!Number.isInteger(level) || level < 0 || level > MAX_LEVEL) throw ledgerError('tile_path_malformed', `tile level must be 0–${MAX_LEVEL}, not ${String(level)}`);
  return `tile/${level}/${encodeTileIndex(index)}${widthSuffix(width)}`;
}

export function entryBundlePath({ index, width }: { index: number; width: number }): string {
  return `tile/entries/${encodeTileIndex(index)}${widthSuffix(width)}`;
}

export function parseTilePath(path: string): ParsedTilePath {
  const elements = path.split('/');
  if (elements.length < 3 || elements[0] !== 'tile') throw malformed(path, 'expected tile/<L>/<N>[.p/<W>] or tile/entries/<N>[.p/<W>]');
  const [, levelElement, ...rest] = elements as [string, string, ...string[]];
  let level: number | 'entries';
  if (levelElement === 'entries') level = 'entries';
  else if (/^(?:0|[1-9][0-9]?)$/.test(levelElement) && Number(levelElement) <= MAX_LEVEL) level = Number(levelElement);
  else throw malformed(path, `level ${JSON.stringify(levelElement)} is not 0–${MAX_LEVEL} without leading zeroes`);

  let width = TILE_WIDTH;
  const last = rest[rest.length - 1] as string;
  const indexElements = [...rest];
  if (rest.length >= 2 && (rest[rest.length - 2] as string).endsWith('.p')) {
    if (!/^[1-9][0-9]{0,2}$/.test(last) || Number(last) >= TILE_WIDTH) throw malformed(path, `partial width ${JSON.stringify(last)} is not 1–${TILE_WIDTH - 1} without leading zeroes`);
    width = Number(last);
    indexElements.pop();
    indexElements[indexElements.length - 1] = (indexElements[indexElements.length - 1] as string).slice(0, -2);
  }
  indexElements.forEach((element, i) => {
    const pattern = i < indexElements.length - 1 ? /^x[0-9]{3}$/ : /^[0-9]{3}$/;
    if (!pattern.test(element)) throw malformed(path, `index element ${JSON.stringify(element)} is not ${i < indexElements.length - 1 ? 'x and 3 digits' : '3 digits'}`);
  });
  if (indexElements.length > 1 && indexElements[0] === 'x000') throw malformed(path, 'index has a leading x000 element');
  const index = Number(indexElements.map((element) => element.replace('x', '')).join(''));
  if (!Number.isSafeInteger(index)) throw malformed(path, 'index is beyond 2^53');
  return level === 'entries' ? { kind: 'entries', index, width } : { kind: 'tile', level, index, width };
}
