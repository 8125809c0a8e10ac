// Standard base64 (RFC 4648 §4), decoded strictly: padding required, no whitespace,
// no stray characters, no non-zero trailing bits — so one value has one encoding and
// a mangled key, hash or signature is refused rather than silently read as another.
import { ledgerError, type LedgerErrorCode } from '../ledger-error.ts';

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export const encodeBase64 = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');

export function decodeBase64(text: string, what: string, code: LedgerErrorCode): Uint8Array {
  const bytes = BASE64.test(text) ? new Uint8Array(Buffer.from(text, 'base64')) : undefined;
  if (!bytes || encodeBase64(bytes) !== text) throw ledgerError(code, `${what} is not standard base64: ${JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text)}`);
  return bytes;
}
