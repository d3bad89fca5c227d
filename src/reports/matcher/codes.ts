// Bin codes as residents type them: "UTR-0012", "utr 12", "UTR0012", "bin 12", or the text of the sticker's QR link
// (https://wa.me/<number>?text=Bin%20UTR-0012). A code's key drops case, separator and zero padding: "UTR-12".

const PREFIXED_ID = /^([A-Za-z]{1,10})[-_. ]?(\d{1,9})$/;
const LINK = /\b(?:https?:\/\/)?(?:wa\.me|api\.whatsapp\.com|(?:www\.)?whatsapp\.com)\/\S*/gi;
const OTHER_URL = /\bhttps?:\/\/\S+/gi;
/** Words after which a bare number is a bin code (only when the registry has a single prefix). */
const BARE_CODE = /(?<![\p{L}\p{N}])(?:bin|bak|container|kliko|code|sticker|qr|#)\s*(?:nr\.?|no\.?|#|:)?\s*(\d{1,9})(?!\p{N})/giu;
/** The whole message is a zero-padded number, as printed under the QR code: "0012". */
const PADDED_ONLY = /^\s*#?(0\d{1,8})\s*$/;

/** "UTR-0012" → "UTR-12"; undefined for ids that are not a prefix and a number. */
export function codeKey(id: string): string | undefined {
  const m = PREFIXED_ID.exec(id.trim());
  if (!m) return undefined;
  return `${m[1]!.toUpperCase()}-${Number(m[2])}`;
}

/** The distinct letter prefixes of the ids: ["UTR"]. */
export function derivePrefixes(ids: Iterable<string>): string[] {
  const prefixes = new Set<string>();
  for (const id of ids) {
    const m = PREFIXED_ID.exec(id.trim());
    if (m) prefixes.add(m[1]!.toUpperCase());
  }
  return [...prefixes].sort();
}

/** WhatsApp links replaced by the message they prefill, other links dropped. */
export function unwrapLinks(text: string): string {
  return text
    .replace(LINK, (url) => {
      const q = url.indexOf('?');
      if (q < 0) return ' ';
      try {
        return ` ${new URLSearchParams(url.slice(q + 1)).get('text') ?? ''} `;
      } catch {
        return ' ';
      }
    })
    .replace(OTHER_URL, ' ');
}

export interface CodeHit {
  key: string;
  start: number;
  end: number;
}

/** Finds bin codes in text whose links are already unwrapped, with their spans. */
export class CodeReader {
  private readonly prefixed: RegExp | undefined;
  private readonly single: string | undefined;

  constructor(prefixes: readonly string[]) {
    const clean = [...new Set(prefixes.map((p) => p.trim().toUpperCase()).filter((p) => /^[A-Z]{1,10}$/.test(p)))];
    // longest first, so "UTRB" is tried before "UTR"
    clean.sort((a, b) => b.length - a.length);
    this.prefixed =
      clean.length > 0 ? new RegExp(`(?<![\\p{L}\\p{N}])(${clean.join('|')})\\s*[-_.:#]?\\s*(\\d{1,9})(?!\\p{N})`, 'giu') : undefined;
    this.single = clean.length === 1 ? clean[0] : undefined;
  }

  read(text: string): CodeHit[] {
    const hits: CodeHit[] = [];
    if (this.prefixed) {
      for (const m of text.matchAll(this.prefixed)) {
        hits.push({ key: `${m[1]!.toUpperCase()}-${Number(m[2])}`, start: m.index, end: m.index + m[0].length });
      }
    }
    if (this.single !== undefined) {
      for (const m of text.matchAll(BARE_CODE)) {
        if (hits.some((h) => m.index < h.end && h.start < m.index + m[0].length)) continue;
        hits.push({ key: `${this.single}-${Number(m[1])}`, start: m.index, end: m.index + m[0].length });
      }
      const padded = PADDED_ONLY.exec(text);
      if (padded && hits.length === 0) hits.push({ key: `${this.single}-${Number(padded[1])}`, start: 0, end: text.length });
    }
    return hits.sort((a, b) => a.start - b.start);
  }
}

const readers = new Map<string, CodeReader>();

/**
 * The bin codes in a resident's message, as keys ("UTR-12": upper-case prefix, dash, number without zero padding),
 * in order of appearance, without repeats. `knownPrefixes` are the registry's prefixes ("UTR"); a bare number
 * after "bin", "container", "#", … counts only when there is exactly one.
 */
export function extractCodes(text: string, knownPrefixes: string[]): string[] {
  const cacheKey = knownPrefixes.join('\u0000');
  let reader = readers.get(cacheKey);
  if (!reader) {
    if (readers.size > 32) readers.clear();
    reader = new CodeReader(knownPrefixes);
    readers.set(cacheKey, reader);
  }
  return [...new Set(reader.read(unwrapLinks(text)).map((h) => h.key))];
}
