import { describe, expect, it } from 'vitest';
import { batteryPctFromVolts, decodeChirpstackUplink, decodeTtnUplink, measurementFromFields } from '../../../src/ingest/index.js';

// Shapes as The Things Stack documents them (integrations/data-formats), fields binbridge does not read included.
function ttnUplink(decoded: unknown, over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    end_device_ids: {
      device_id: 'eui-70b3d57ed005b89a',
      application_ids: { application_id: 'city-bins' },
      dev_eui: '70B3D57ED005B89A',
      join_eui: '0000000000000001',
      dev_addr: '260BABCD',
    },
    correlation_ids: ['as:up:01HX6YGQ7E0V83YRZ7K4S5J4ZN', 'gs:uplink:01HX6YGQ7AS3VTM5W5W36YV1F1'],
    received_at: '2026-11-25T15:59:59.412345678Z',
    uplink_message: {
      session_key_id: 'AWNbm/4zfqx0jZ5q1NlBmw==',
      f_port: 85,
      f_cnt: 1834,
      frm_payload: 'ASsBKAAA',
      ...(decoded === undefined ? {} : { decoded_payload: decoded }),
      rx_metadata: [
        { gateway_ids: { gateway_id: 'gw-dom', eui: 'AA555A0000000101' }, time: '2026-11-25T15:59:59.3Z', timestamp: 3895211423, rssi: -97, channel_rssi: -97, snr: 2.5 },
        { gateway_ids: { gateway_id: 'gw-station', eui: 'AA555A0000000102' }, rssi: -68, channel_rssi: -68, snr: 9.2, uplink_token: 'ChIKEAoOZ3ctc3RhdGlvbg==' },
      ],
      settings: { data_rate: { lora: { bandwidth: 125000, spreading_factor: 7, coding_rate: '4/5' } }, frequency: '868100000', timestamp: 3895211423 },
      received_at: '2026-11-25T15:59:59.401234567Z',
      consumed_airtime: '0.061696s',
      network_ids: { net_id: '000013', tenant_id: 'ttn', cluster_id: 'eu1', cluster_address: 'eu1.cloud.thethings.network' },
      ...over,
    },
  };
}

// ChirpStack v4 UplinkEvent, JSON marshaler (integration.proto).
function chirpstackUplink(object: unknown, over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    deduplicationId: '3ac7e3c4-4401-4b8d-9386-a5c902f9202d',
    time: '2026-11-25T15:59:59.775023242+00:00',
    deviceInfo: {
      tenantId: '52f14cd4-c6f1-4fbd-8f87-4025e1d49242',
      tenantName: 'Gemeente',
      applicationId: '17c82e96-be03-4f38-aef3-f83d48582d97',
      applicationName: 'bins',
      deviceProfileId: '14855bf7-d10d-4aee-b618-ebfcb64dc7ad',
      deviceProfileName: 'EM310-UDL',
      deviceName: 'bin-oudegracht-11',
      devEui: '24E124713D123456',
      deviceClassEnabled: 'CLASS_A',
      tags: { district: 'centrum' },
    },
    devAddr: '00189440',
    adr: true,
    dr: 5,
    fCnt: 12,
    fPort: 85,
    confirmed: false,
    data: 'AXVkA2cBAQQCAAA=',
    ...(object === undefined ? {} : { object }),
    rxInfo: [
      { gatewayId: '0016c001f153a14c', uplinkId: 4217106255, rssi: -112, snr: -3.5, channel: 2, location: {}, context: 'E3OWOQ==', metadata: { region_common_name: 'EU868' } },
      { gatewayId: '0016c001f153a14d', uplinkId: 1617106255, rssi: -80, snr: 7.75, context: 'E3OWOA==' },
    ],
    txInfo: { frequency: 867100000, modulation: { lora: { bandwidth: 125000, spreadingFactor: 7, codeRate: 'CR_4_5' } } },
    ...over,
  };
}

const TTN_UP = 'v3/city-bins@ttn/devices/eui-70b3d57ed005b89a/up';
const CS_UP = 'application/17c82e96-be03-4f38-aef3-f83d48582d97/device/24e124713d123456/event/up';
const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));

describe('decodeTtnUplink', () => {
  it('reads device ids, the decoded payload, received_at and the best gateway', () => {
    const up = decodeTtnUplink(TTN_UP, json(ttnUplink({ distance: 412, battery: 88, temperature: 21.4, position: 'normal' })));
    expect(up.device).toEqual({ deviceId: 'eui-70b3d57ed005b89a', devEui: '70b3d57ed005b89a' });
    expect(up.fPort).toBe(85);
    expect(up.snr).toBe(9.2);
    expect(up.decoded).toEqual({
      ok: true,
      measurement: { distance_mm: 412, battery_pct: 88, temperature_c: 21.4, tilt: false, rssi: -68, ts: '2026-11-25T15:59:59.401234567Z' },
    });
  });

  it('falls back to the network-reported battery when the payload has none', () => {
    const up = decodeTtnUplink(TTN_UP, json(ttnUplink({ fill: 40 }, { last_battery_percentage: { f_cnt: 1830, value: 90.118576, received_at: '2026-11-25T15:00:00Z' } })));
    expect(up.decoded.ok && up.decoded.measurement).toMatchObject({ fill_pct: 40, battery_pct: 90.1 });
  });

  it.each([
    ['no decoded payload', TTN_UP, ttnUplink(undefined), 'no_decoded_payload'],
    ['a join event on its own topic', 'v3/city-bins@ttn/devices/eui-70b3d57ed005b89a/join', { end_device_ids: { device_id: 'x' }, join_accept: { session_key_id: 'AXBSH1Pk6Z0G166RlH16CQ==' } }, 'not_an_uplink'],
    ['a downlink event', 'v3/city-bins@ttn/devices/eui-70b3d57ed005b89a/down/queued', { end_device_ids: { device_id: 'x' }, downlink_queued: { f_port: 1 } }, 'not_an_uplink'],
    ['a join body on the up topic', TTN_UP, { end_device_ids: { device_id: 'x' }, join_accept: { session_key_id: 'AXBS' } }, 'not_an_uplink'],
    ['a distance of the wrong type', TTN_UP, ttnUplink({ distance: 'far' }), 'invalid'],
    ['a position that is not tilt or normal', TTN_UP, ttnUplink({ distance: 400, position: 'sideways' }), 'invalid'],
    ['a decoded payload that is not an object', TTN_UP, ttnUplink([1, 2]), 'invalid'],
    ['no device id', TTN_UP, { end_device_ids: {}, uplink_message: { decoded_payload: { fill: 3 } } }, 'invalid'],
    ['no fill or distance', TTN_UP, ttnUplink({ battery: 80 }), 'no_fill'],
    ['a fill out of range', TTN_UP, ttnUplink({ fill: 130 }), 'out_of_range'],
  ])('refuses %s', (_what, topic, body, reason) => {
    const up = decodeTtnUplink(topic, json(body));
    expect(up.decoded.ok).toBe(false);
    if (!up.decoded.ok) expect(up.decoded.reason).toBe(reason);
  });

  it('refuses what is not JSON', () => {
    const up = decodeTtnUplink(TTN_UP, Buffer.from('{nope'));
    expect(up.decoded).toMatchObject({ ok: false, reason: 'bad_json' });
    expect(up.device).toEqual({ deviceId: 'eui-70b3d57ed005b89a' });
  });

  it('uses a configured field mapping, nested names included', () => {
    const up = decodeTtnUplink(TTN_UP, json(ttnUplink({ sensor: { range: 730 }, Bat_V: 3.3, t: 4.5, tilted: 1 })), {
      distance_mm: 'sensor.range',
      battery_v: 'Bat_V',
      temperature_c: 't',
      tilt: 'tilted',
    });
    expect(up.decoded.ok && up.decoded.measurement).toMatchObject({ distance_mm: 730, battery_pct: 50, temperature_c: 4.5, tilt: true });
  });
});

describe('decodeChirpstackUplink', () => {
  it('reads deviceInfo, object, time and the best gateway', () => {
    const up = decodeChirpstackUplink(CS_UP, json(chirpstackUplink({ distance_mm: 812, batteryVoltage: 3.42, temperature_c: 8.5, tilt: true })));
    expect(up.device).toEqual({ deviceId: 'bin-oudegracht-11', devEui: '24e124713d123456' });
    expect(up.snr).toBe(7.75);
    expect(up.decoded).toEqual({
      ok: true,
      measurement: { distance_mm: 812, battery_pct: 70, temperature_c: 8.5, tilt: true, rssi: -80, ts: '2026-11-25T15:59:59.775023242+00:00' },
    });
  });

  it.each([
    ['no object (no codec)', CS_UP, chirpstackUplink(undefined), 'no_decoded_payload'],
    ['a join event', CS_UP.replace('/event/up', '/event/join'), { deviceInfo: { devEui: '24e124713d123456' }, devAddr: '00189440' }, 'not_an_uplink'],
    ['a join body where uplinks were expected', 'city/feed', { time: '2026-11-25T15:59:59Z', deviceInfo: { devEui: '24e124713d123456', deviceName: 'x' }, devAddr: '00189440' }, 'not_an_uplink'],
    ['a status event', CS_UP.replace('/event/up', '/event/status'), { deviceInfo: { devEui: '24e124713d123456' }, batteryLevel: 80 }, 'not_an_uplink'],
    ['a fill of the wrong type', CS_UP, chirpstackUplink({ fill_pct: '55%' }), 'invalid'],
    ['a DevEUI that is not hex', CS_UP, chirpstackUplink({ fill_pct: 5 }, { deviceInfo: { devEui: 'AgICAgICAgI=' } }), 'invalid'],
    ['a battery of the wrong type', CS_UP, chirpstackUplink({ fill_pct: 5, battery: '3.3 V' }), 'invalid'],
  ])('refuses %s', (_what, topic, body, reason) => {
    const up = decodeChirpstackUplink(topic, json(body));
    expect(up.decoded.ok).toBe(false);
    if (!up.decoded.ok) expect(up.decoded.reason).toBe(reason);
  });
});

describe('measurementFromFields', () => {
  it.each([
    [{ distance: 412 }, { distance_mm: 412 }],
    [{ distance_mm: 412 }, { distance_mm: 412 }],
    [{ distance_cm: 41.25 }, { distance_mm: 412.5 }],
    [{ Distance: 300 }, { distance_mm: 300 }],
    [{ fill: 10 }, { fill_pct: 10 }],
    [{ fill_pct: 11 }, { fill_pct: 11 }],
    [{ fillLevel: 12 }, { fill_pct: 12 }],
    [{ level: 13 }, { fill_pct: 13 }],
    [{ battery: 88 }, { battery_pct: 88 }],
    [{ battery: 4 }, { battery_pct: 4 }],
    [{ battery: 3.3 }, { battery_pct: 50 }],
    [{ battery: 3.65 }, { battery_pct: 100 }],
    [{ battery_pct: 3.5 }, { battery_pct: 3.5 }],
    [{ battery_v: 3.06 }, { battery_pct: 10 }],
    [{ batteryVoltage: 2.9 }, { battery_pct: 0 }],
    [{ temperature: -4 }, { temperature_c: -4 }],
    [{ temperature_c: 61 }, { temperature_c: 61 }],
    [{ position: 'tilt' }, { tilt: true }],
    [{ position: 'normal' }, { tilt: false }],
    [{ tilt: true }, { tilt: true }],
    [{ distance: null, fill: 20 }, { fill_pct: 20 }],
    [{ humidity: 40, counter: 3 }, {}],
  ])('%j -> %j', (fields, expected) => {
    expect(measurementFromFields(fields)).toEqual(expected);
  });

  it('converts a Li-SOCl2 cell voltage linearly from 3.0 V (0 %) to 3.6 V (100 %)', () => {
    expect([2.5, 3.0, 3.15, 3.3, 3.6, 3.7].map(batteryPctFromVolts)).toEqual([0, 0, 25, 50, 100, 100]);
  });
});
