import { STATUS, parseBinTopic, parseStatus, type BinTopic } from './topics.js';

/** Who is on the other end: a device authenticated as one bin, or anyone (mqtt.auth: none). */
export type Principal = { kind: 'device'; binId: string } | { kind: 'anonymous' };

export type Decision = { allow: true } | { allow: false; reason: 'sys_topic' | 'foreign_topic' | 'topic_not_allowed' };

const ALLOW: Decision = { allow: true };

/**
 * May this principal publish to this topic? (also asked for last wills, at CONNECT and when a will fires)
 * Devices publish only under their own bins/{id}/; $SYS is never writable by clients.
 */
export function canPublish(who: Principal, topic: string): Decision {
  // [MQTT-4.7.2-1] topics starting with $ are the server's; aedes' own default check, kept here
  if (topic.startsWith('$')) return { allow: false, reason: 'sys_topic' };
  const t = parseBinTopic(topic);
  if (!t) return { allow: false, reason: 'topic_not_allowed' };
  if (who.kind === 'device' && t.binId !== who.binId) return { allow: false, reason: 'foreign_topic' };
  return ALLOW;
}

/**
 * May this principal subscribe to this filter? Devices may follow only their own bins/{id}/...;
 * in auth: none (trusted networks) a monitoring client may follow bins/#. $SYS stays closed.
 */
export function canSubscribe(who: Principal, filter: string): Decision {
  if (filter.startsWith('$') || filter === '#' || filter.startsWith('+/')) return { allow: false, reason: 'sys_topic' };
  const parts = filter.split('/');
  if (parts[0] !== 'bins') return { allow: false, reason: 'topic_not_allowed' };
  if (who.kind === 'anonymous') return ALLOW;
  if (parts[1] !== who.binId) return { allow: false, reason: 'foreign_topic' };
  return ALLOW;
}

export type RetainDecision = { allow: true } | { allow: false; reason: 'retain_telemetry' | 'retain_unknown_bin' | 'retain_bad_status' };

/**
 * May the broker keep this PUBLISH as its topic's retained message? Only a registered bin's status, and only
 * `online`/`offline`: retained messages then number at most one short message a registered bin, whoever
 * publishes and in every auth mode. An empty payload deletes the retained message [MQTT-3.3.1-10], which frees
 * memory, so a registered bin may always send one. Anything else is delivered without being retained.
 */
export function canRetain(topic: BinTopic, payload: Buffer, knownBin: boolean): RetainDecision {
  if (topic.channel !== STATUS) return { allow: false, reason: 'retain_telemetry' };
  if (!knownBin) return { allow: false, reason: 'retain_unknown_bin' };
  if (payload.length > 0 && parseStatus(payload) === null) return { allow: false, reason: 'retain_bad_status' };
  return { allow: true };
}
