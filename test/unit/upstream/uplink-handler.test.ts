import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Decoded, IngestOutcome, ReadingSource } from '../../../src/ingest/index.js';
import { createUplinkHandler, readInstanceId, redactUrl, subscriptionFilter, upstreamClientId } from '../../../src/upstream/index.js';

interface Call {
  binId: string;
  decoded: Decoded;
  source: ReadingSource;
}

function fakeIngest(outcome: (c: Call) => IngestOutcome = () => ({ ok: true, reading: {} as never })) {
  const calls: Call[] = [];
  return {
    calls,
    acceptDecoded: async (binId: string, decoded: Decoded, source: ReadingSource): Promise<IngestOutcome> => {
      const call = { binId, decoded, source };
      calls.push(call);
      return decoded.ok ? outcome(call) : { ok: false, retryable: false, reason: decoded.reason, detail: decoded.detail };
    },
  };
}

const bins = new Map([
  ['70b3d57ed005b89a', 'UTR-0001'],
  ['dev-2', 'UTR-0002'],
]);
const findBin = (d: { deviceId?: string; devEui?: string }) => {
  const id = (d.devEui && bins.get(d.devEui)) || (d.deviceId && bins.get(d.deviceId));
  return id ? { id } : undefined;
};
const ttn = (deviceId: string, devEui: string, decoded?: unknown) =>
  Buffer.from(JSON.stringify({ end_device_ids: { device_id: deviceId, dev_eui: devEui }, received_at: '2026-11-25T15:00:00Z', uplink_message: { f_port: 1, decoded_payload: decoded } }));

describe('createUplinkHandler', () => {
  it('hands a TTN uplink of a known device to ingest under its bin id, and acknowledges it', async () => {
    const ingest = fakeIngest();
    const handle = createUplinkHandler({ format: 'ttn', fields: {}, ingest, findBin });
    expect(await handle('v3/a@ttn/devices/x/up', ttn('x', '70B3D57ED005B89A', { fill: 40 }))).toBe('ack');
    expect(ingest.calls).toEqual([{ binId: 'UTR-0001', decoded: { ok: true, measurement: { fill_pct: 40, ts: '2026-11-25T15:00:00Z' } }, source: 'ttn' }]);
  });

  it('refuses an unknown device with a counted reason and acknowledges it', async () => {
    const ingest = fakeIngest();
    const handle = createUplinkHandler({ format: 'ttn', fields: {}, ingest, findBin });
    expect(await handle('v3/a@ttn/devices/nobody/up', ttn('nobody', '0000000000000001', { fill: 40 }))).toBe('ack');
    expect(ingest.calls[0]).toMatchObject({ binId: 'nobody', decoded: { ok: false, reason: 'unknown_device' } });
  });

  it('does not acknowledge a reading that could not be recorded', async () => {
    const ingest = fakeIngest(() => ({ ok: false, retryable: true, reason: 'spool_full', detail: 'full' }));
    const handle = createUplinkHandler({ format: 'ttn', fields: {}, ingest, findBin });
    expect(await handle('v3/a/devices/dev-2/up', ttn('dev-2', '0000000000000002', { distance: 300 }))).toBe('retry');
  });

  it('acknowledges a reading refused as invalid', async () => {
    const ingest = fakeIngest(() => ({ ok: false, retryable: false, reason: 'future_ts', detail: 'ahead' }));
    const handle = createUplinkHandler({ format: 'ttn', fields: {}, ingest, findBin });
    expect(await handle('v3/a/devices/dev-2/up', ttn('dev-2', '0000000000000002', { distance: 300 }))).toBe('ack');
  });

  it('counts a ChirpStack join under its DevEUI', async () => {
    const ingest = fakeIngest();
    const handle = createUplinkHandler({ format: 'chirpstack', fields: {}, ingest, findBin });
    const body = Buffer.from(JSON.stringify({ deviceInfo: { devEui: '70b3d57ed005b89a' }, devAddr: '01020304' }));
    expect(await handle('application/x/device/70b3d57ed005b89a/event/join', body)).toBe('ack');
    expect(ingest.calls[0]).toMatchObject({ binId: '70b3d57ed005b89a', decoded: { reason: 'not_an_uplink' }, source: 'chirpstack' });
  });

  it('reads native payloads from bins/{id}/telemetry and passes status messages by', async () => {
    const ingest = fakeIngest();
    const handle = createUplinkHandler({ format: 'native', fields: {}, ingest, findBin });
    expect(await handle('bins/UTR-0001/telemetry', Buffer.from('{"fill_pct":12}'))).toBe('ack');
    expect(await handle('bins/UTR-0001/status', Buffer.from('online'))).toBe('ack');
    expect(await handle('other/topic', Buffer.from('{"fill_pct":12}'))).toBe('ack');
    expect(ingest.calls.map((c) => [c.binId, c.decoded.ok ? 'ok' : c.decoded.reason, c.source])).toEqual([
      ['UTR-0001', 'ok', 'upstream'],
      ['other/topic', 'not_an_uplink', 'upstream'],
    ]);
  });
});

describe('client ids and topics', () => {
  it('keeps one instance id per data dir', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bb-instance-'));
    const other = fs.mkdtempSync(path.join(os.tmpdir(), 'bb-instance-'));
    try {
      expect(readInstanceId(dir)).toBe(readInstanceId(dir));
      expect(readInstanceId(dir)).not.toBe(readInstanceId(other));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
      fs.rmSync(other, { recursive: true, force: true });
    }
  });

  it('derives a fixed client id of at most 23 characters unless one is configured', () => {
    const u = { url: 'mqtts://eu1.cloud.thethings.network:8883', shared_group: 'bb', client_id: '', format: 'ttn' as const, topics: ['v3/+/devices/+/up'] };
    const id = upstreamClientId(u, 'instance-a');
    expect(id).toMatch(/^binbridge-[0-9a-f]{12}$/);
    expect(upstreamClientId(u, 'instance-a')).toBe(id);
    expect(upstreamClientId(u, 'instance-b')).not.toBe(id);
    expect(upstreamClientId({ ...u, shared_group: 'other' }, 'instance-a')).not.toBe(id);
    expect(upstreamClientId({ ...u, format: 'chirpstack', topics: ['application/+/device/+/event/up'] }, 'instance-a')).not.toBe(id);
    expect(upstreamClientId({ ...u, client_id: 'city-bridge-1' }, 'instance-a')).toBe('city-bridge-1');
  });

  it('builds shared subscriptions, and hides credentials', () => {
    expect(subscriptionFilter('v3/+/devices/+/up', 'bb')).toBe('$share/bb/v3/+/devices/+/up');
    expect(subscriptionFilter('v3/+/devices/+/up', '')).toBe('v3/+/devices/+/up');
    expect(redactUrl('mqtts://app@ttn:NNSXS.secret@eu1.cloud.thethings.network:8883')).toBe('mqtts://eu1.cloud.thethings.network:8883');
  });
});
