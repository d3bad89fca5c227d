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
