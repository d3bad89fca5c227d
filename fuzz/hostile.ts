// Hostile values shared by the targets: strings people and attackers actually send (emoji, right-to-left text,
// zero-width and combining characters, one endless word, NUL, lone surrogates, SQL and path tricks), numbers at
// and past every edge, and structures nested deeper than anyone writes by hand.
import fc from 'fast-check';

export const EDGE_NUMBERS = [
  0, -0, 1, -1, 0.1, 99.99999, 100, 100.0000001, 101, -0.0000001, 255, 256, 65535, 65536, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 53, 2 ** 53 + 2,
  Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, Number.MAX_VALUE, -Number.MAX_VALUE, Number.MIN_VALUE, 1e21, 1e-7, -60, 500, 20_000, 3.0, 3.6,
  4, 5, 946_684_800_000, 253_402_300_799_999, 8.64e15, 8.64e15 + 1, -8.64e15,
] as const;

export const TRICK_STRINGS = [
  '',
  ' ',
  '\u0000',
  'null',
  'undefined',
  'NaN',
  'Infinity',
  '-Infinity',
  '1e999',
  '0x10',
  ' 42 ',
  '__proto__',
  'constructor',
  'prototype',
  'hasOwnProperty',
  "'; DROP TABLE bins; --",
  '" OR 1=1 --',
  '../../../../etc/passwd',
  '..%2f..%2fetc%2fpasswd',
  '%00',
  '%zz',
  '${7*7}',
  '{{7*7}}',
  '<script>alert(1)</script>',
  '\ud800',
  '\udfff',
  '\u202e\u0644\u0627\u0020\u05e9\u05dc\u05d5\u05dd',
  '\u200b\u200c\u200d\ufeff',
  'e\u0301\u0301\u0301\u0301\u0301\u0301',
  '👩‍👩‍👧‍👦🗑️🚮♻️',
  '𝔘𝔗𝔕-0001',
  'UTR\u20110001',
  'utr-0001',
  'UTR-0001\n',
  '\r\n\r\n',
  '\t',
  'ÿ',
  '\u{10ffff}',
];

/** Unicode of every kind: ASCII, full code points, graphemes (emoji sequences, combining marks). */
export const anyText = (maxLength = 64): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 3, arbitrary: fc.string({ maxLength }) },
    { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength }) },
    { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength }) },
    { weight: 1, arbitrary: fc.string({ unit: 'grapheme-composite', maxLength }) },
    { weight: 2, arbitrary: fc.constantFrom(...TRICK_STRINGS) },
  );

export const edgeNumber: fc.Arbitrary<number> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...EDGE_NUMBERS) },
  { weight: 2, arbitrary: fc.double() },
  { weight: 2, arbitrary: fc.integer() },
  { weight: 1, arbitrary: fc.double({ min: -1000, max: 1000, noNaN: true }) },
);

/** Any value at all, small enough to send often. */
export const anyValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: edgeNumber },
  { weight: 3, arbitrary: anyText(40) },
  { weight: 1, arbitrary: fc.boolean() },
  { weight: 1, arbitrary: fc.constant(null) },
  { weight: 2, arbitrary: fc.anything({ maxDepth: 2, maxKeys: 4 }) },
  { weight: 1, arbitrary: fc.json({ maxDepth: 2 }).map((s) => JSON.parse(s) as unknown) },
);

/** JSON nested `depth` levels deep, as text (arrays, objects or both). */
export function deepJson(depth: number, kind: 'array' | 'object' | 'mixed'): string {
  if (kind === 'array') return '['.repeat(depth) + ']'.repeat(depth);
  if (kind === 'object') return '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
  let open = '';
  let close = '';
  for (let i = 0; i < depth; i++) {
    if (i % 2) {
      open += '[';
      close = ']' + close;
    } else {
      open += '{"x":';
      close = '}' + close;
    }
  }
  return open + '0' + close;
}

/** A JSON value nested `depth` levels deep, as an object (for bodies built as values). */
export function deepValue(depth: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = i % 2 ? [v] : { a: v };
  return v;
}

/** Days in a month of the proleptic Gregorian calendar. */
export function daysInMonth(year: number, month: number): number {
  return [31, year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1] ?? 0;
}

/** ISO-8601 look-alikes: real instants, impossible dates (Feb 30, month 13, 25:61), odd offsets and precisions. */
export const isoLike: fc.Arbitrary<string> = fc
  .record({
    y: fc.oneof(fc.integer({ min: 1999, max: 2030 }), fc.integer({ min: 0, max: 9999 })),
    mo: fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 1, max: 12 }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 99 }) }),
    d: fc.oneof({ weight: 3, arbitrary: fc.integer({ min: 1, max: 28 }) }, { weight: 2, arbitrary: fc.integer({ min: 29, max: 31 }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 99 }) }),
    h: fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 0, max: 23 }) }, { weight: 1, arbitrary: fc.integer({ min: 24, max: 99 }) }),
    mi: fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 0, max: 59 }) }, { weight: 1, arbitrary: fc.integer({ min: 60, max: 99 }) }),
    s: fc.option(fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 0, max: 59 }) }, { weight: 1, arbitrary: fc.integer({ min: 60, max: 99 }) })),
    frac: fc.option(fc.stringMatching(/^[0-9]{1,9}$/)),
    tz: fc.oneof(fc.constant('Z'), fc.constantFrom('+00:00', '+01:00', '-05:30', '+14:00', '-12:00', '+0530', '+99:99', '+24:00', '-00:60')),
  })
  .map(({ y, mo, d, h, mi, s, frac, tz }) => {
    const p = (n: number, w = 2) => String(n).padStart(w, '0');
    const sec = s === null ? '' : `:${p(s)}${frac === null ? '' : `.${frac}`}`;
    return `${p(y, 4)}-${p(mo)}-${p(d)}T${p(h)}:${p(mi)}${sec}${tz}`;
  });

/**
 * Whether an ISO-8601 string names a real instant: 'valid' (it does), 'invalid' (Feb 30, month 13, hour 25,
 * minute 60, offset minutes 60: it does not), 'either' (24:00 and leap second 60: ISO allows them, binbridge may
 * refuse them), or null when it is not ISO-8601 at all. For valid ones, the instant in ms.
 */
export function isoCalendar(s: string): { verdict: 'valid' | 'invalid' | 'either'; ms?: number } | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|([+-])(\d{2}):?(\d{2}))$/.exec(s);
  if (!m) return null;
  const [y, mo, d, h, mi] = [m[1], m[2], m[3], m[4], m[5]].map(Number) as [number, number, number, number, number];
  const sec = m[6] === undefined ? 0 : Number(m[6]);
  const offH = m[10] === undefined ? 0 : Number(m[10]);
  const offM = m[11] === undefined ? 0 : Number(m[11]);
  if (mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo) || h > 24 || mi > 59 || sec > 60 || offH > 23 || offM > 59) return { verdict: 'invalid' };
  if (h === 24 && (mi > 0 || sec > 0)) return { verdict: 'invalid' };
  if (h === 24 || sec === 60) return { verdict: 'either' };
  const frac = m[7] ? Number(`0${m[7]}`) * 1000 : 0;
  const sign = m[9] === '-' ? -1 : 1;
  const utc = Date.UTC(y, mo - 1, d, h, mi, sec) + frac;
  // Date.UTC maps years 0–99 to 1900–1999: set the year explicitly
  const date = new Date(utc);
  date.setUTCFullYear(y);
  return { verdict: 'valid', ms: date.getTime() - sign * (offH * 60 + offM) * 60_000 };
}
