import { parseBinTopic } from '../broker/index.js';
import type { UpstreamConfig } from '../config/index.js';
import {
  decodeChirpstackUplink,
  decodeNative,
  decodeTtnUplink,
  type Decoded,
  type Ingest,
  type LorawanUplink,
  type ReadingSource,
  type UplinkDevice,
} from '../ingest/index.js';

/** ack: recorded, or refused for good (the broker may forget it); retry: not recorded, the broker must send it again. */
export type Verdict = 'ack' | 'retry';

export type UplinkHandler = (topic: string, payload: Buffer) => Promise<Verdict>;

export interface UplinkHandlerDeps {
  format: UpstreamConfig['format'];
  fields: UpstreamConfig['fields'];
  ingest: Pick<Ingest, 'acceptDecoded'>;
  /** the bin of a network server's device (registry lookup by DevEUI, device id or bin id) */
  findBin: (device: UplinkDevice) => { id: string } | undefined;
}

const SOURCE: Record<UpstreamConfig['format'], ReadingSource> = { native: 'upstream', ttn: 'ttn', chirpstack: 'chirpstack' };

/**
 * One upstream message: decode by format, find the bin, then the same validation, spool and rules as a reading
 * from the embedded broker (Ingest.acceptDecoded). Refusals are counted there, under the device's own name.
 */
export function createUplinkHandler(deps: UplinkHandlerDeps): UplinkHandler {
  const source = SOURCE[deps.format];
  const refuse = (device: string, decoded: Decoded & { ok: false }) => deps.ingest.acceptDecoded(device.slice(0, 80), decoded, source);

  const native = async (topic: string, payload: Buffer): Promise<Verdict> => {
    const t = parseBinTopic(topic);
    // presence is the embedded broker's business; an upstream's status messages carry no reading
    if (t?.channel === 'status') return 'ack';
    const outcome = t
      ? await deps.ingest.acceptDecoded(t.binId, decodeNative(payload), source)
      : await refuse(topic, { ok: false, reason: 'not_an_uplink', detail: 'topic is not bins/{id}/telemetry' });
    return outcome.ok || !outcome.retryable ? 'ack' : 'retry';
  };

  const decode = deps.format === 'ttn' ? decodeTtnUplink : decodeChirpstackUplink;
  const lorawan = async (topic: string, payload: Buffer): Promise<Verdict> => {
    const up: LorawanUplink = decode(topic, payload, deps.fields);
    const name = up.device?.deviceId ?? up.device?.devEui ?? topic;
    if (!up.decoded.ok) {
      await refuse(name, up.decoded);
      return 'ack';
    }
    const bin = up.device ? deps.findBin(up.device) : undefined;
    if (!bin) {
      const ids = [up.device?.deviceId && `device id ${up.device.deviceId}`, up.device?.devEui && `DevEUI ${up.device.devEui}`].filter(Boolean).join(' or ');
      await refuse(name, { ok: false, reason: 'unknown_device', detail: `no bin has ${ids} (bins file columns device_id, dev_eui)` });
      return 'ack';
    }
    const outcome = await deps.ingest.acceptDecoded(bin.id, up.decoded, source);
    return outcome.ok || !outcome.retryable ? 'ack' : 'retry';
  };

  return deps.format === 'native' ? native : lorawan;
}
