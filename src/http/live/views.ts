import type { AppliedEvent } from '../../alerts/index.js';
import type { LatestReading } from '../../storage/index.js';
import { iso } from '../iso.js';

/** A committed reading as the live map's `reading` event carries it. */
export const readingView = (r: LatestReading, status: string) => ({
  bin_id: r.binId,
  ts: iso(r.ts),
  received_at: iso(r.receivedAt),
  fill_pct: r.fillPct,
  battery_pct: r.batteryPct ?? null,
  temperature_c: r.temperatureC ?? null,
  status,
});

/** A rule event as the live page's `alert` event carries it. */
export const alertEventView = (e: AppliedEvent) => ({
  bin_id: e.binId,
  zone: e.zone,
  type: e.type,
  ts: iso(e.ts),
  value: e.value ?? null,
  message: e.message,
  opens: e.opens ?? null,
  closes: e.closes ?? [],
  opened: e.opened,
  cause: e.cause ?? null,
  /** the forecast a 'full' alert was opened on: hours until rules.full_pct (null for any other cause) */
  hours_to_full: e.hoursToFull ?? null,
  urgent: e.urgent ?? false,
});
