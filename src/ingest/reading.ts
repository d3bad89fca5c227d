import { z } from 'zod';

export type { Reading, ReadingSource } from '../reading.js';

/** Why a reading was refused; the label of binbridge_readings_rejected_total. */
export type RejectReason =
  | 'bad_json'
  | 'invalid'
  | 'out_of_range'
  | 'no_fill'
  | 'bad_ts'
  | 'future_ts'
  | 'unknown_bin'
  | 'oversize'
  | 'spool_full'
  | 'store_error'
  // network servers' uplinks (TTN, ChirpStack): no payload formatter / codec, a device no bin names, a join or downlink event
  | 'no_decoded_payload'
  | 'unknown_device'
  | 'not_an_uplink';

export interface Rejection {
  reason: RejectReason;
  detail: string;
}

/**
 * The measurement fields every decoder produces (native JSON carries them as they are; TTN and
 * ChirpStack decoders map their payloads onto them). Unknown keys are ignored, not fatal.
 */
export const measurementSchema = z.object({
  fill_pct: z.number().min(0).max(100).optional(),
  distance_mm: z.number().min(0).max(20_000).optional(),
  battery_pct: z.number().min(0).max(100).optional(),
  // high on purpose: a fire in a bin is one of the things we must see
  temperature_c: z.number().min(-60).max(500).optional(),
  tilt: z.boolean().optional(),
  rssi: z.number().min(-200).max(20).optional(),
  ts: z.union([z.string(), z.number()]).optional(),
});

export type Measurement = z.infer<typeof measurementSchema>;
