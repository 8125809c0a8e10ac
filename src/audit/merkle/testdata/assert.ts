// Small helpers the ledger's tests share.
import assert from 'node:assert/strict';
import { LedgerError, type LedgerErrorCode } from '../../ledger-error.ts';

export const fromHex = (hex: string): Uint8Array => new Uint8Array(Buffer.from(hex, 'hex'));
export const fromBase64 = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'base64'));
export const toHex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

const matches = (error: unknown, codes: readonly LedgerErrorCode[], message?: RegExp): boolean =>
  error instanceof LedgerError && codes.includes(error.code as LedgerErrorCode) && (message === undefined || message.test(error.message));

/** Asserts fn throws a LedgerError with (one of) the code(s), and a message matching `message` if given. */
export function throwsLedger(fn: () => unknown, code: LedgerErrorCode | readonly LedgerErrorCode[], message?: RegExp, label?: string): void {
  const codes = typeof code === 'string' ? [code] : code;
  assert.throws(fn, (error: unknown) => {
    if (matches(error, codes, message)) return true;
    assert.fail(`${label ? `${label}: ` : ''}expected ${codes.join(' or ')}${message ? ` matching ${message}` : ''}, got ${error instanceof LedgerError ? `${error.code}: ${error.message}` : String(error)}`);
  });
}

export async function rejectsLedger(fn: () => Promise<unknown>, code: LedgerErrorCode, message?: RegExp): Promise<void> {
  await assert.rejects(fn, (error: unknown) => {
    if (matches(error, [code], message)) return true;
    assert.fail(`expected ${code}${message ? ` matching ${message}` : ''}, got ${error instanceof LedgerError ? `${error.code}: ${error.message}` : String(error)}`);
  });
}

