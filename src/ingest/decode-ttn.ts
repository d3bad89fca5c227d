import { z } from 'zod';
import { bestSignal, decodeFields, readEnvelope, type FieldMapping, type LorawanUplink, type UplinkDevice } from './lorawan-fields.js';

// The Things Stack v3 MQTT server: v3/{application id}[@{tenant id}]/devices/{device id}/{event}, where the
// event is `up` for uplinks and `join`, `down/queued`, `down/sent`, `down/ack`, `service/data`, ... otherwise.
const TOPIC = /^v3\/[^/]+\/devices\/([^/]+)\/(.+)$/;

// Only what binbridge reads; everything else in the envelope is ignored. Empty fields are omitted by TTS.
const envelope = z.object({
  end_device_ids: z.object({ device_id: z.string().min(1), dev_eui: z.string().optional() }),
  received_at: z.string().optional(),
  uplink_message: z
    .object({
      f_port: z.number().optional(),
      decoded_payload: z.unknown().optional(),
      received_at: z.string().optional(),
      rx_metadata: z.unknown().optional(),
      // since TTS 3.33: the battery level the device last reported in a DevStatusAns
      last_battery_percentage: z.object({ value: z.number() }).optional().catch(undefined),
    })
    .optional(),
});

/** A The Things Stack v3 `ApplicationUp` as its MQTT server and webhooks send it (JSON). */
export function decodeTtnUplink(topic: string, payload: Buffer | string, mapping?: FieldMapping): LorawanUplink {
  const env = readEnvelope(topic, payload, TOPIC, (t) => ({ deviceId: t[1] }), envelope);
  if (!env.ok) return env.uplink;
  const ids = env.value.end_device_ids;
  const device: UplinkDevice = { deviceId: ids.device_id, devEui: ids.dev_eui?.toLowerCase() };
  const up = env.value.uplink_message;
  if (!up) {
    const kind = Object.keys(env.raw).find((k) => !['end_device_ids', 'correlation_ids', 'received_at'].includes(k)) ?? 'unknown';
    return { device, decoded: { ok: false, reason: 'not_an_uplink', detail: `a ${kind} message, not an uplink` } };
  }
  const signal = bestSignal(up.rx_metadata, ['rssi', 'channel_rssi']);
  const meta = { fPort: up.f_port, snr: signal.snr };
  if (up.decoded_payload === undefined || up.decoded_payload === null) {
    return { device, ...meta, decoded: { ok: false, reason: 'no_decoded_payload', detail: 'uplink without decoded_payload: add a payload formatter to the device or application' } };
  }
  const decoded = decodeFields(
    up.decoded_payload,
    { ts: up.received_at ?? env.value.received_at, rssi: signal.rssi, batteryPct: up.last_battery_percentage?.value },
    mapping,
  );
  return { device, ...meta, decoded };
}
