import { describe, expect, it } from 'vitest';
import { canPublish, canRetain, canSubscribe, parseBinTopic, parseStatus, type Principal } from '../../../src/broker/index.js';

const device: Principal = { kind: 'device', binId: 'UTR-0001' };
const anyone: Principal = { kind: 'anonymous' };

describe('canPublish', () => {
  it.each([
    [device, 'bins/UTR-0001/telemetry', true, undefined],
    [device, 'bins/UTR-0001/status', true, undefined],
    [device, 'bins/UTR-0002/telemetry', false, 'foreign_topic'],
    [device, 'bins/UTR-0002/status', false, 'foreign_topic'],
    [device, '$SYS/broker/x', false, 'sys_topic'],
    [device, '$share/x/bins/UTR-0001/telemetry', false, 'sys_topic'],
    [device, 'bins/UTR-0001/telemetry/extra', false, 'topic_not_allowed'],
    [device, 'bins/UTR-0001/config', false, 'topic_not_allowed'],
    [device, 'other/topic', false, 'topic_not_allowed'],
    [anyone, 'bins/UTR-0002/telemetry', true, undefined],
    [anyone, '$SYS/heartbeat', false, 'sys_topic'],
    [anyone, 'bins//telemetry', false, 'topic_not_allowed'],
  ])('%o publishing to %s -> %s', (who, topic, allow, reason) => {
    const d = canPublish(who, topic);
    expect(d.allow).toBe(allow);
    if (!d.allow) expect(d.reason).toBe(reason);
  });
});

describe('canSubscribe', () => {
  it.each([
    [device, 'bins/UTR-0001/#', true],
    [device, 'bins/UTR-0001/config', true],
    [device, 'bins/+/telemetry', false],
    [device, 'bins/#', false],
    [device, '#', false],
    [device, '$SYS/#', false],
    [anyone, 'bins/#', true],
    [anyone, '$SYS/#', false],
    [anyone, '#', false],
    [anyone, '+/x', false],
  ])('%o subscribing to %s -> %s', (who, filter, allow) => {
    expect(canSubscribe(who, filter).allow).toBe(allow);
  });
});

describe('parseBinTopic', () => {
  it('parses only the two bin channels', () => {
    expect(parseBinTopic('bins/A-1/telemetry')).toEqual({ binId: 'A-1', channel: 'telemetry' });
    expect(parseBinTopic('bins/A-1/status')).toEqual({ binId: 'A-1', channel: 'status' });
    expect(parseBinTopic('bins/A-1')).toBeNull();
    expect(parseBinTopic('bin/A-1/telemetry')).toBeNull();
  });
});

describe('canRetain', () => {
  const status = { binId: 'UTR-0001', channel: 'status' } as const;
  const telemetry = { binId: 'UTR-0001', channel: 'telemetry' } as const;
  it.each([
    [status, 'online', true, true, undefined],
    [status, ' Offline\n', true, true, undefined],
    [status, '', true, true, undefined], // deletes the retained status [MQTT-3.3.1-10]
    [status, 'online', false, false, 'retain_unknown_bin'],
    [status, '', false, false, 'retain_unknown_bin'],
    [status, 'x'.repeat(7000), true, false, 'retain_bad_status'],
    [status, 'online'.padEnd(17, ' '), true, false, 'retain_bad_status'],
    [status, 'sleeping', true, false, 'retain_bad_status'],
    [telemetry, '{"fill_pct":5}', true, false, 'retain_telemetry'],
    [telemetry, '', true, false, 'retain_telemetry'],
  ])('%o with %j, known %s -> %s', (topic, payload, known, allow, reason) => {
    const d = canRetain(topic, Buffer.from(payload), known);
    expect(d.allow).toBe(allow);
    if (!d.allow) expect(d.reason).toBe(reason);
  });
});

describe('parseStatus', () => {
  it('takes online and offline, in any case, within 16 bytes', () => {
    expect(parseStatus(Buffer.from('online'))).toBe('online');
    expect(parseStatus(Buffer.from('OFFLINE\r\n'))).toBe('offline');
    expect(parseStatus(Buffer.from(`${' '.repeat(10)}online`))).toBe('online');
    expect(parseStatus(Buffer.from(`${' '.repeat(11)}online`))).toBeNull();
    expect(parseStatus(Buffer.from('on line'))).toBeNull();
    expect(parseStatus(Buffer.alloc(0))).toBeNull();
  });
});
