import { randomInt } from 'node:crypto';

// Crockford's base32 without I, L, O, U: easy to read out over a phone or type from a message
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** A short human-friendly code such as `J-7K3QX` or `R-4TQ8`, drawn again until `taken` says it is free. */
export function shortCode(prefix: string, length: number, taken: (code: string) => boolean): string {
  for (;;) {
    let code = prefix;
    for (let i = 0; i < length; i++) code += ALPHABET[randomInt(ALPHABET.length)];
    if (!taken(code)) return code;
  }
}
