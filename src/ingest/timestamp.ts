/**
 * ISO-8601 as devices and network servers write it (the RFC 3339 profile): a date, a time to the minute or the
 * second with up to nanoseconds (TTS and ChirpStack send nine digits), and a UTC offset. Without an offset it
 * would be a local time of an unknown place, which is no instant.
 */
const ISO_8601 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(?:Z|([+-])(\d{2}):?(\d{2}))$/;

/** A Date holds ±8.64e15 ms (ECMA-262 "Time Values and Time Range"); nothing beyond is a time. */
const MAX_MS = 8.64e15;
/** UTC+14:00 (Line Islands) and UTC−12:00 are the furthest offsets in use; ±14:00 is what ISO 8601 allows */
const MAX_OFFSET_MIN = 14 * 60;

export type TimestampResult = { ok: true; ms: number } | { ok: false; why: string };

/** Epoch ms from a reading's `ts` (ISO-8601 or epoch milliseconds), or why it is no instant. */
export function readTimestamp(ts: string | number): TimestampResult {
  if (typeof ts === 'number') return fromEpochMs(ts);
  if (/^\d+$/.test(ts)) {
    // written as JSON would write the number: no leading zeros; 17 digits and more are beyond any Date
    if (ts.startsWith('0')) return { ok: false, why: 'epoch ms with leading zeros' };
    if (ts.length > 16) return { ok: false, why: 'epoch ms beyond the range of a date' };
    return fromEpochMs(Number(ts));
  }
  const m = ISO_8601.exec(ts);
  if (!m) return { ok: false, why: 'not ISO-8601 with a UTC offset (2026-11-25T16:00:00Z) or epoch ms' };
  return fromFields(m);
}

/** Epoch ms from a reading's `ts`; null when it is no instant (see readTimestamp for why). */
export function parseTimestamp(ts: string | number): number | null {
  const r = readTimestamp(ts);
  return r.ok ? r.ms : null;
}

function fromEpochMs(ms: number): TimestampResult {
  if (!Number.isFinite(ms) || ms <= 0) return { ok: false, why: 'epoch ms must be a positive number' };
  if (ms > MAX_MS) return { ok: false, why: 'epoch ms beyond the range of a date' };
  // below a millisecond is dropped, as an ISO time's nanoseconds are
  return { ok: true, ms: Math.floor(ms) };
}

function fromFields(m: RegExpExecArray): TimestampResult {
  const [y, mo, d, h, mi] = [m[1], m[2], m[3], m[4], m[5]].map(Number) as [number, number, number, number, number];
  const second = m[6] === undefined ? 0 : Number(m[6]);
  const millis = m[7] === undefined ? 0 : Number(m[7].padEnd(3, '0').slice(0, 3));

  const sign = m[8] === '-' ? -1 : 1;
  const offH = m[9] === undefined ? 0 : Number(m[9]);
  const offM = m[10] === undefined ? 0 : Number(m[10]);
  if (offM > 59 || offH * 60 + offM > MAX_OFFSET_MIN) return { ok: false, why: `no UTC offset ${m[8]}${m[9]}:${m[10]} (at most ±14:00)` };
  if (second > 60) return { ok: false, why: `no second ${second}` };

  // Date.UTC would roll 30 February over to 2 March and hour 24 to the next day: the fields must come back as given
  const wall = new Date(0);
  wall.setUTCFullYear(y, mo - 1, d);
  wall.setUTCHours(h, mi, Math.min(second, 59), millis);
  const back = [wall.getUTCFullYear(), wall.getUTCMonth() + 1, wall.getUTCDate(), wall.getUTCHours(), wall.getUTCMinutes()];
  if (back.some((v, i) => v !== [y, mo, d, h, mi][i])) return { ok: false, why: noSuchTime(y, mo, d, h, mi) };

  const utc = wall.getTime() - sign * (offH * 60 + offM) * 60_000;
  if (second < 60) return { ok: true, ms: utc };
  // RFC 3339 5.7: a leap second is 23:59:60 UTC at the end of June or December; it counts as the last
  // millisecond before the next minute, so that it still sorts before 00:00:00
  const at = new Date(utc);
  const leap = at.getUTCHours() === 23 && at.getUTCMinutes() === 59 && isLastDayOfJuneOrDecember(at);
  return leap ? { ok: true, ms: Math.floor(utc / 1000) * 1000 + 999 } : { ok: false, why: `no second 60: a leap second is 23:59:60 UTC on 30 June or 31 December` };
}

function isLastDayOfJuneOrDecember(at: Date): boolean {
  return (at.getUTCMonth() === 5 && at.getUTCDate() === 30) || (at.getUTCMonth() === 11 && at.getUTCDate() === 31);
}

function noSuchTime(y: number, mo: number, d: number, h: number, mi: number): string {
  const two = (n: number): string => String(n).padStart(2, '0');
  if (mo < 1 || mo > 12) return `no month ${mo}`;
  const days = new Date(0);
  days.setUTCFullYear(y, mo, 0);
  if (d < 1 || d > days.getUTCDate()) return `${String(y).padStart(4, '0')}-${two(mo)} has no day ${d}`;
  if (h > 23) return `no hour ${h}`;
  return `no minute ${mi}`;
}
