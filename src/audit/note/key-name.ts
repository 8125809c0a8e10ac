// c2sp.org/signed-note: key names are non-empty and contain no Unicode space and no
// plus sign (the separator of the key encodings). A note may not hold control
// characters or broken UTF-16 either, so neither may a name.
const SPACE_OR_PLUS = /[\s\u0085+]/u;
const LONE_SURROGATE = /\p{Surrogate}/u;

export function isValidKeyName(name: string): boolean {
  if (name.length === 0 || SPACE_OR_PLUS.test(name) || LONE_SURROGATE.test(name)) return false;
  for (let i = 0; i < name.length; i++) if (name.charCodeAt(i) < 0x20) return false;
  return true;
}
