import type { DeviceSnapshot } from './device.js';

export interface ProgressTotals {
  devices: number;
  connected: number;
  sent: number;
  acked: number;
  buffered: number;
  inflight: number;
  dropped: number;
  refused: number;
  silent: number;
  faults: number;
}

export function sumSnapshots(snapshots: readonly DeviceSnapshot[]): ProgressTotals {
  const totals: ProgressTotals = { devices: snapshots.length, connected: 0, sent: 0, acked: 0, buffered: 0, inflight: 0, dropped: 0, refused: 0, silent: 0, faults: 0 };
  for (const s of snapshots) {
    if (s.connected) totals.connected++;
    if (s.refused) totals.refused++;
    if (s.silent) totals.silent++;
    totals.sent += s.sent;
    totals.acked += s.acked;
    totals.buffered += s.buffered;
    totals.inflight += s.inflight;
    totals.dropped += s.dropped;
    totals.faults += s.faults.length;
  }
  return totals;
}

/** Simulated time to the second, e.g. 2026-11-25 16:00:12Z. */
export function formatSimTime(simMs: number): string {
  return new Date(simMs).toISOString().replace('T', ' ').replace(/\.\d{3}Z$/, 'Z');
}

export function formatProgress(t: ProgressTotals, simMs: number): string {
  return [
    `connected ${t.connected}/${t.devices}`,
    `sent ${t.sent}`,
    `acked ${t.acked}`,
    `buffered ${t.buffered}`,
    `dropped ${t.dropped}`,
    `refused ${t.refused}`,
    `faults ${t.faults}`,
    `sim ${formatSimTime(simMs)}`,
  ].join('  ');
}
