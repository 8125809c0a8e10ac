// Tree sizes and indexes are JavaScript numbers: exact up to 2^53, which no audit log
// reaches. JavaScript's bitwise operators truncate to 32 bits, so everything here is
// arithmetic instead.
import { ledgerError } from '../../ledger-error.ts';

export const isOdd = (n: number): boolean => n % 2 === 1;

export const half = (n: number): number => Math.floor(n / 2);

/** The largest power of two smaller than n (n ≥ 2): RFC 9162's split point k. */
export function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

export function isPowerOfTwo(n: number): boolean {
  if (n < 1) return false;
  while (n % 2 === 0) n /= 2;
  return n === 1;
}

/** The number of one bits of n: how many full subtrees make up a tree of n leaves. */
export function bitCount(n: number): number {
  let count = 0;
  for (; n > 0; n = half(n)) if (isOdd(n)) count++;
  return count;
}

export function checkSize(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw ledgerError('tree_size_invalid', `${what} must be a non-negative integer below 2^53, not ${String(value)}`);
  }
}
