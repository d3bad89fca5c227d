// Every MQTT topic binbridge speaks is built and parsed here (SPEC.md "MQTT interface").

export const TELEMETRY = 'telemetry';
export const STATUS = 'status';

export const telemetryTopic = (binId: string): string => `bins/${binId}/${TELEMETRY}`;
export const statusTopic = (binId: string): string => `bins/${binId}/${STATUS}`;

export interface BinTopic {
  binId: string;
  channel: typeof TELEMETRY | typeof STATUS;
}

/** bins/{binId}/telemetry or bins/{binId}/status; null for any other topic. */
export function parseBinTopic(topic: string): BinTopic | null {
  const parts = topic.split('/');
  if (parts.length !== 3 || parts[0] !== 'bins' || !parts[1]) return null;
  const channel = parts[2];
  if (channel !== TELEMETRY && channel !== STATUS) return null;
  return { binId: parts[1], channel };
}

export type DeviceStatus = 'online' | 'offline';

/** A status payload is `online` or `offline` (case and surrounding white space aside), never longer than this. */
export const STATUS_MAX_BYTES = 16;

/** The status a bins/{id}/status payload carries; null for anything else. */
export function parseStatus(payload: Buffer): DeviceStatus | null {
  if (payload.length > STATUS_MAX_BYTES) return null;
  const s = payload.toString('utf8').trim().toLowerCase();
  return s === 'online' || s === 'offline' ? s : null;
}
