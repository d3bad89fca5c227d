// The fuzz harness's own pure parts: an oracle that is wrong would report defects that are not there (or hide
// ones that are), and a mutator that does not do what it says would fuzz less than it claims.
import fc from 'fast-check';
import mqttPacket from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { daysInMonth, isoCalendar } from '../../fuzz/hostile.js';
import { Rng } from '../../fuzz/rng.js';
import { rawConnect, splitHeader, varint } from '../../fuzz/targets/mqtt-bytes.js';
import { buildScript, planArb, type ScriptContext } from '../../fuzz/targets/mqtt-packets.js';

describe('isoCalendar (the oracle for impossible dates)', () => {
  it.each([
    ['2026-02-28T12:00:00Z', 'valid', Date.UTC(2026, 1, 28, 12)],
    ['2024-02-29T00:00:00Z', 'valid', Date.UTC(2024, 1, 29)],
    ['2026-06-15T12:00:00+02:00', 'valid', Date.UTC(2026, 5, 15, 10)],
    ['2026-06-15T12:00:00.250-0130', 'valid', Date.UTC(2026, 5, 15, 13, 30, 0, 250)],
    ['2026-06-15T12:00Z', 'valid', Date.UTC(2026, 5, 15, 12)],
    ['0001-01-01T00:00:00Z', 'valid', -62_135_596_800_000],
    ['2026-02-29T00:00:00Z', 'invalid', undefined],
    ['2026-02-30T00:00:00Z', 'invalid', undefined],
    ['2026-04-31T00:00:00Z', 'invalid', undefined],
    ['2026-13-01T00:00:00Z', 'invalid', undefined],
    ['2026-00-10T00:00:00Z', 'invalid', undefined],
    ['2026-06-00T00:00:00Z', 'invalid', undefined],
    ['2026-06-15T25:00:00Z', 'invalid', undefined],
    ['2026-06-15T12:60:00Z', 'invalid', undefined],
    ['2026-06-15T12:00:61Z', 'invalid', undefined],
    ['2026-06-15T24:00:01Z', 'invalid', undefined],
    ['2026-06-15T12:00:00+12:60', 'invalid', undefined],
    ['2026-06-15T24:00:00Z', 'either', undefined],
    ['2016-12-31T23:59:60Z', 'either', undefined],
  ])('%s is %s', (s, verdict, ms) => {
    const r = isoCalendar(s);
    expect(r?.verdict).toBe(verdict);
    expect(r?.ms).toBe(ms);
  });

  it('is null for what is not ISO-8601', () => {
    for (const s of ['2026-06-15', '1750025136', '2026-06-15 12:00:00Z', 'x']) expect(isoCalendar(s)).toBeNull();
  });

  it('agrees with the calendar for every day of four years', () => {
    for (const y of [2023, 2024, 2100, 2000]) {
      for (let m = 1; m <= 12; m++) {
        expect(daysInMonth(y, m)).toBe(new Date(Date.UTC(y, m, 0)).getUTCDate());
      }
    }
  });
});

describe('MQTT packets and mutations', () => {
  it('varint and splitHeader read back what mqtt-packet wrote [MQTT-2.2.3]', () => {
    for (const n of [0, 1, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152, 268_435_455]) {
      const packet = Buffer.concat([Buffer.from([0x30]), varint(n), Buffer.alloc(Math.min(n, 64))]);
      expect(splitHeader(packet)).toMatchObject({ first: 0x30, length: n });
    }
    const publish = mqttPacket.generate({ cmd: 'publish', topic: 'bins/UTR-0001/telemetry', payload: Buffer.alloc(300), qos: 1, messageId: 7, dup: false, retain: false });
    expect(splitHeader(publish)).toMatchObject({ first: 0x32, lengthBytes: 2, length: publish.length - 3 });
  });

  it('rawConnect writes what a parser reads as the same CONNECT, even fields mqtt-packet refuses to write', () => {
    const parsed: mqttPacket.Packet[] = [];
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    parser.on('packet', (p) => parsed.push(p));
    parser.parse(rawConnect({ protocolId: 'MQTT', protocolVersion: 4, clientId: 'UTR-0002', clean: true, keepalive: 30, username: 'UTR-0002', password: Buffer.from('s3cret'), will: { topic: 'bins/UTR-0002/status', payload: Buffer.from('offline'), qos: 1, retain: true } }));
    expect(parsed[0]).toMatchObject({ cmd: 'connect', clientId: 'UTR-0002', username: 'UTR-0002', keepalive: 30, will: { topic: 'bins/UTR-0002/status', qos: 1, retain: true } });
    // an empty client id with clean: false: generate() throws, the fuzzer still sends it
    expect(() => mqttPacket.generate({ cmd: 'connect', clientId: '', clean: false } as mqttPacket.IConnectPacket)).toThrow();
    expect(rawConnect({ protocolId: 'MQTT', protocolVersion: 4, clientId: '', clean: false, keepalive: 0 }).length).toBeGreaterThan(10);
  });

  it('a script is a function of its seed, never uses the good device, and ends in a PINGREQ unless it disconnects', () => {
    const bins = ['UTR-0001', 'UTR-0002', 'UTR-0003'];
    for (const auth of ['devices', 'none'] as const) {
      const ctx: ScriptContext = { auth, devices: [{ bin: 'UTR-0002', secret: 'x' }], bins, goodClientId: 'UTR-0001', goodBin: 'UTR-0001', maxPacketBytes: 8192, nowMs: 1_780_000_000_000 };
      const arb = planArb(ctx);
      let checked = 0;
      for (let seed = 0; seed < 80; seed++) {
        const [plan] = fc.sample(arb, { seed, numRuns: 1 });
        const a = buildScript(plan!, seed, ctx);
        const b = buildScript(fc.sample(arb, { seed, numRuns: 1 })[0]!, seed, ctx);
        expect(Buffer.concat(a.chunks)).toEqual(Buffer.concat(b.chunks));
        if (a.sentinel) expect(Buffer.concat(a.chunks).subarray(-2)).toEqual(Buffer.from([0xc0, 0x00]));
        if (plan!.kind === 'raw' || a.mutations.length > 0) continue;
        const packets: mqttPacket.Packet[] = [];
        const parser = mqttPacket.parser({ protocolVersion: 4 });
        parser.on('packet', (p) => packets.push(p));
        parser.on('error', () => undefined);
        parser.parse(Buffer.concat(a.chunks));
        const connect = packets[0] as mqttPacket.IConnectPacket | undefined;
        if (connect?.cmd !== 'connect') continue;
        checked++;
        expect(connect.clientId).not.toBe(ctx.goodClientId);
        expect(connect.username).not.toBe(ctx.goodBin);
      }
      expect(checked).toBeGreaterThan(10);
    }
  });

  it('the PRNG is deterministic and spread', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const xs = Array.from({ length: 1000 }, () => a.int(0, 9));
    expect(xs).toEqual(Array.from({ length: 1000 }, () => b.int(0, 9)));
    for (let d = 0; d < 10; d++) expect(xs.filter((x) => x === d).length).toBeGreaterThan(60);
  });
});
