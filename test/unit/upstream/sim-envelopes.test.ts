// The simulator's network-server envelopes are read by binbridge's decoders as the real ones are.
import { describe, expect, it } from 'vitest';
import type { TelemetryPayload } from '../../../firmware-sim/bin-model.js';
import { createUplinkEncoder, deviceIds } from '../../../firmware-sim/lorawan.js';
import { decodeChirpstackUplink, decodeTtnUplink } from '../../../src/ingest/index.js';

const reading: TelemetryPayload = { distance_mm: 812, battery_pct: 67.4, temperature_c: 9.3, tilt: true, ts: '2026-11-25T16:00:00.000Z' };

describe('firmware-sim network formats', () => {
  it('takes ids from the bins file columns, or derives them from the bin id', () => {
    expect(deviceIds({ id: 'UTR-0001', device_id: 'bin-sensor-1', dev_eui: '24e124713d000001' })).toEqual({ deviceId: 'bin-sensor-1', devEui: '24E124713D000001' });
    const derived = deviceIds({ id: 'UTR-0001' });
    expect(derived.deviceId).toBe('utr-0001');
    expect(derived.devEui).toMatch(/^[0-9A-F]{16}$/);
    expect(deviceIds({ id: 'UTR-0001' })).toEqual(derived);
  });

  it('publishes TTS v3 uplinks binbridge decodes', () => {
    const ids = deviceIds({ id: 'UTR-0001' });
    const { topic, payload } = createUplinkEncoder(ids, { format: 'ttn', app: 'city-bins', tenant: 'ttn' })(reading);
    expect(topic).toBe('v3/city-bins@ttn/devices/utr-0001/up');
    const up = decodeTtnUplink(topic, payload);
    expect(up.device).toEqual({ deviceId: 'utr-0001', devEui: ids.devEui.toLowerCase() });
    expect(up.decoded.ok && up.decoded.measurement).toMatchObject({ distance_mm: 812, battery_pct: 67, temperature_c: 9.3, tilt: true, ts: reading.ts });
    expect(JSON.parse(payload).uplink_message.f_cnt).toBe(1);
  });

  it('publishes ChirpStack v4 uplinks binbridge decodes', () => {
    const ids = deviceIds({ id: 'UTR-0002', dev_eui: '24E124713D000002' });
    const encode = createUplinkEncoder(ids, { format: 'chirpstack', app: 'city-bins', tenant: '' });
    encode(reading);
    const { topic, payload } = encode(reading);
    expect(topic).toMatch(/^application\/[0-9a-f-]{36}\/device\/24e124713d000002\/event\/up$/);
    const up = decodeChirpstackUplink(topic, payload);
    expect(up.device).toEqual({ deviceId: 'utr-0002', devEui: '24e124713d000002' });
    expect(up.decoded.ok && up.decoded.measurement).toMatchObject({ distance_mm: 812, temperature_c: 9.3, tilt: true, ts: reading.ts });
    expect(up.decoded.ok && up.decoded.measurement.battery_pct).toBeCloseTo(67.3, 0);
    expect(JSON.parse(payload).fCnt).toBe(2);
  });
});
