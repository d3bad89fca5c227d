import { z } from 'zod';
import { bestSignal, decodeFields, readEnvelope, type FieldMapping, type LorawanUplink, type UplinkDevice } from './lorawan-fields.js';

// ChirpStack v4 MQTT integration: application/{application id}/device/{DevEUI}/event/{up|join|ack|txack|log|status|location|integration}
const TOPIC = /^application\/[^/]+\/device\/([^/]+)\/event\/(.+)$/;

// Only what binbridge reads (the JSON marshaler; devEui is hex in v4). Other keys are ignored.
const envelope = z.object({
  deviceInfo: z.object({ devEui: z.string().regex(/^[0-9a-fA-F]{16}$/, '16 hex digits'), deviceName: z.string().optional() }),
  time: z.string().optional(),
  fPort: z.number().optional(),
  object: z.unknown().optional(),
  rxInfo: z.unknown().optional(),
  data: z.string().optional(),
});

/** A ChirpStack v4 `UplinkEvent` (integration/integration.proto, JSON encoding). */
export function decodeChirpstackUplink(topic: string, payload: Buffer | string, mapping?: FieldMapping): LorawanUplink {
  const env = readEnvelope(topic, payload, TOPIC, (t) => ({ devEui: t[1]?.toLowerCase() }), envelope);
  if (!env.ok) return env.uplink;
  const e = env.value;
  const device: UplinkDevice = { devEui: e.deviceInfo.devEui.toLowerCase(), deviceId: e.deviceInfo.deviceName || undefined };
  // a join, status or log event published where uplinks were expected carries none of an uplink's parts
  if (e.rxInfo === undefined && e.object === undefined && e.data === undefined && e.fPort === undefined) {
    return { device, decoded: { ok: false, reason: 'not_an_uplink', detail: 'an event without rxInfo, data or object, not an uplink' } };
  }
  const signal = bestSignal(e.rxInfo, ['rssi']);
  const meta = { fPort: e.fPort, snr: signal.snr };
  if (e.object === undefined || e.object === null) {
    return { device, ...meta, decoded: { ok: false, reason: 'no_decoded_payload', detail: 'uplink without object: add a codec to the device profile' } };
  }
  return { device, ...meta, decoded: decodeFields(e.object, { ts: e.time, rssi: signal.rssi }, mapping) };
}
