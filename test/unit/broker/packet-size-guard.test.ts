import mqttPacket from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { createPacketSizeGuard } from '../../../src/broker/index.js';

const publish = (bytes: number): Buffer =>
  mqttPacket.generate({ cmd: 'publish', topic: 'bins/A/telemetry', payload: Buffer.alloc(bytes, 0x61), qos: 1, messageId: 1, retain: false, dup: false });
const ping = (): Buffer => mqttPacket.generate({ cmd: 'pingreq' });

function run(max: number, chunks: Buffer[]): number[] {
  const seen: number[] = [];
  const guard = createPacketSizeGuard(max, (n) => seen.push(n));
  for (const c of chunks) guard(c);
  return seen;
}

describe('packet size guard', () => {
  it('lets packets up to the limit through, in any chunking', () => {
    const stream = Buffer.concat([publish(100), ping(), publish(8000), ping(), publish(0)]);
    expect(run(8192, [stream])).toEqual([]);
    // one byte at a time: the varint length spans chunks
    expect(run(8192, [...stream].map((b) => Buffer.from([b])))).toEqual([]);
  });

  it('trips on the first packet over the limit, from its header', () => {
    const big = publish(10_000);
    const seen = run(8192, [Buffer.concat([publish(10), ping()]), big.subarray(0, 5)]);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toBe(big.length);
  });

  it('trips on a malformed length of more than four bytes', () => {
    expect(run(8192, [Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01])])).toEqual([Infinity]);
  });
});
