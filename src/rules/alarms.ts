import type { RulesConfig } from '../config/index.js';
import { fmt, type BinEvent, type BinRuleState, type RuleReading } from './types.js';

/** a fast rise counts as fire only when it is already hot: sun on a lid warms quickly too, but not past this */
const FIRE_RISE_ABOVE_C = 45;
const FIRE_RISE_C = 10;
const FIRE_RISE_WINDOW_MS = 5 * 60_000;
const TEMP_STEP_MS = 15_000;
/** fire is over only well below the threshold, so a smouldering bin does not flap */
const FIRE_CLEAR_MARGIN_C = 10;
/** a battery swap or recharge, not a warm afternoon, closes the alert */
const BATTERY_CLEAR_MARGIN_PCT = 5;

/** Fire: at once (urgent) on threshold or fast rise; over after `debounce` cool readings. Updates the draft. */
export function applyFire(d: BinRuleState, r: RuleReading, rules: RulesConfig): BinEvent[] {
  const t = r.temperatureC;
  if (t === undefined) return [];
  const recent = d.fire.temps.filter((p) => p.ts >= r.ts - FIRE_RISE_WINDOW_MS && p.ts < r.ts);
  // one point per TEMP_STEP_MS keeps the state small; a bucket keeps its coolest value, which is what a rise is measured from
  const last = recent[recent.length - 1];
  d.fire.temps = last && r.ts - last.ts < TEMP_STEP_MS ? [...recent.slice(0, -1), { ts: last.ts, c: Math.min(last.c, t) }] : [...recent, { ts: r.ts, c: t }];
  const base = { type: 'fire' as const, binId: r.binId, ts: r.ts, value: t };

  if (!d.fire.open) {
    const coolest = Math.min(...recent.map((p) => p.c));
    const risingFast = t > FIRE_RISE_ABOVE_C && t - coolest >= FIRE_RISE_C;
    if (t < rules.fire_c && !risingFast) return [];
    d.fire = { ...d.fire, open: true, streak: 0 };
    const why =
      t >= rules.fire_c
        ? `at or above the fire threshold of ${fmt(rules.fire_c)} °C`
        : `up ${fmt(t - coolest)} °C within 5 minutes`;
    return [{ ...base, opens: 'fire', urgent: true, message: `Possible fire: temperature ${fmt(t)} °C, ${why}.` }];
  }
  d.fire.streak = t < rules.fire_c - FIRE_CLEAR_MARGIN_C ? d.fire.streak + 1 : 0;
  if (d.fire.streak < rules.debounce) return [];
  d.fire = { ...d.fire, open: false, streak: 0 };
  return [{ ...base, closes: ['fire'], message: `Fire over: temperature back to ${fmt(t)} °C.` }];
}

/** Tilt: `debounce` readings saying tilted open it, as many saying upright close it. Updates the draft. */
export function applyTilt(d: BinRuleState, r: RuleReading, rules: RulesConfig): BinEvent[] {
  if (r.tilt === undefined) return [];
  d.tilt.streak = r.tilt !== d.tilt.open ? d.tilt.streak + 1 : 0;
  if (d.tilt.streak < rules.debounce) return [];
  d.tilt = { open: r.tilt, streak: 0 };
  const base = { type: 'tilt' as const, binId: r.binId, ts: r.ts };
  return r.tilt
    ? [{ ...base, opens: 'tilt', message: 'Bin is tilted or knocked over.' }]
    : [{ ...base, closes: ['tilt'], message: 'Bin is upright again.' }];
}

/** Low battery: opens once below battery_low_pct, closes 5 points above it. Updates the draft. */
export function applyBattery(d: BinRuleState, r: RuleReading, rules: RulesConfig): BinEvent[] {
  const b = r.batteryPct;
  if (b === undefined) return [];
  const base = { type: 'battery_low' as const, binId: r.binId, ts: r.ts, value: b };
  if (!d.battery.open && b < rules.battery_low_pct) {
    d.battery = { open: true };
    return [{ ...base, opens: 'battery_low', message: `Sensor battery is low: ${fmt(b)} %.` }];
  }
  if (d.battery.open && b >= rules.battery_low_pct + BATTERY_CLEAR_MARGIN_PCT) {
    d.battery = { open: false };
    return [{ ...base, closes: ['battery_low'], message: `Sensor battery is back to ${fmt(b)} %.` }];
  }
  return [];
}

/** Any reading that advances the last-heard time ends an outage. Updates the draft. */
export function noteHeard(d: BinRuleState, r: RuleReading): BinEvent[] {
  const heard = r.receivedAt ?? r.ts;
  if (d.lastHeardAt !== null && heard <= d.lastHeardAt) return [];
  d.lastHeardAt = heard;
  if (!d.offline.open) return [];
  d.offline = { open: false };
  return [{ type: 'offline', binId: r.binId, ts: r.ts, closes: ['offline'], message: 'Sensor is back online.' }];
}

/** Offline once per outage: nothing heard for offline_after_s. Updates the draft. */
export function checkSilence(d: BinRuleState, binId: string, now: number, rules: RulesConfig): BinEvent[] {
  if (d.lastHeardAt === null || d.offline.open) return [];
  const silentS = (now - d.lastHeardAt) / 1000;
  if (silentS < rules.offline_after_s) return [];
  d.offline = { open: true };
  return [
    {
      type: 'offline',
      binId,
      ts: now,
      value: Math.round(silentS),
      opens: 'offline',
      message: `Sensor has sent nothing for ${fmt(silentS / 3600)} h.`,
    },
  ];
}
