// Byte-level MQTT for the fuzzer: the remaining-length varint, a CONNECT written field by field (for fields
// mqtt-packet refuses to encode), and the mutators that damage an encoded packet.
import type { Rng } from '../rng.js';

/** What a mutator needs of the script's context. */
export interface MutationContext {
  maxPacketBytes: number;
}

/** The remaining-length varint of MQTT [MQTT-2.2.3]. */
export function varint(n: number): Buffer {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0 && out.length < 8);
  return Buffer.from(out);
}

/** Splits a packet into its first byte, the varint and the body (null when the varint does not end). */
export function splitHeader(buf: Buffer): { first: number; lengthBytes: number; length: number; body: Buffer } | null {
  if (buf.length < 2) return null;
  let length = 0;
  let mult = 1;
  for (let i = 1; i < Math.min(buf.length, 5); i++) {
    length += (buf[i]! & 0x7f) * mult;
    mult *= 128;
    if (!(buf[i]! & 0x80)) return { first: buf[0]!, lengthBytes: i, length, body: buf.subarray(i + 1) };
  }
  return null;
}

export type Mutator = (buf: Buffer, r: Rng, ctx: MutationContext) => Buffer;

export const MUTATORS: Record<string, Mutator> = {
  bitflip: (buf, r) => {
    const out = Buffer.from(buf);
    for (let k = r.int(1, 8); k > 0 && out.length > 0; k--) {
      const i = r.int(0, out.length - 1);
      out[i]! ^= 1 << r.int(0, 7);
    }
    return out;
  },
  byteset: (buf, r) => {
    const out = Buffer.from(buf);
    for (let k = r.int(1, 4); k > 0 && out.length > 0; k--) out[r.int(0, out.length - 1)] = r.pick([0x00, 0xff, 0x7f, 0x80, 0x01, 0xfe, 0x3f, 0x40, 0xc0]);
    return out;
  },
  truncate: (buf, r) => buf.subarray(0, r.int(0, Math.max(0, buf.length - 1))),
  length_lie: (buf, r, ctx) => {
    const h = splitHeader(buf);
    if (!h) return buf;
    const len = r.pick([
      0,
      Math.max(0, h.length - 1),
      h.length + 1,
      h.length + r.int(2, 1000),
      127,
      128,
      16_383,
      16_384,
      2_097_151,
      268_435_455,
      ctx.maxPacketBytes - 2,
      ctx.maxPacketBytes,
      ctx.maxPacketBytes + 1,
    ]);
    const style = r.int(0, 3);
    let v: Buffer;
    if (style === 0) v = varint(len);
    // non-minimal: extra continuation bytes ending in 0x00 [MQTT-1.5.5: at most 4 bytes]
    else if (style === 1) v = Buffer.concat([Buffer.from(varint(len).map((b) => b | 0x80)), Buffer.from([0x00])]);
    // five bytes: the varint never ends within the limit
    else if (style === 2) v = Buffer.from([0xff, 0xff, 0xff, 0xff, 0x7f]);
    else v = Buffer.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x01]);
    return Buffer.concat([Buffer.from([h.first]), v, h.body]);
  },
  header_flags: (buf, r) => {
    const out = Buffer.from(buf);
    if (out.length > 0) out[0] = (out[0]! & 0xf0) | r.int(0, 15);
    return out;
  },
  packet_type: (buf, r) => {
    const out = Buffer.from(buf);
    if (out.length > 0) out[0] = (r.pick([0, 15, 2, 4, 5, 9, 11, 13]) << 4) | (out[0]! & 0x0f);
    return out;
  },
  string_length_lie: (buf, r) => {
    // the 16-bit length of the first string field (topic, protocol name), right after the varint
    const h = splitHeader(buf);
    if (!h || h.body.length < 2) return buf;
    const out = Buffer.from(buf);
    out.writeUInt16BE(r.pick([0, 1, 0xffff, h.body.length, h.body.length + 1, r.int(0, 0xffff)]), 1 + h.lengthBytes);
    return out;
  },
  insert_random: (buf, r) => {
    const at = r.int(0, buf.length);
    return Buffer.concat([buf.subarray(0, at), r.bytes(r.int(1, 32)), buf.subarray(at)]);
  },
  delete_slice: (buf, r) => {
    if (buf.length < 2) return buf;
    const a = r.int(0, buf.length - 1);
    const b = r.int(a, Math.min(buf.length, a + 16));
    return Buffer.concat([buf.subarray(0, a), buf.subarray(b)]);
  },
  duplicate_slice: (buf, r) => {
    if (buf.length < 2) return buf;
    const a = r.int(0, buf.length - 1);
    const b = r.int(a, Math.min(buf.length, a + 32));
    return Buffer.concat([buf.subarray(0, b), buf.subarray(a, b), buf.subarray(b)]);
  },
  random_bytes: (buf, r) => r.bytes(r.int(1, Math.max(2, buf.length))),
  utf8_break: (buf, r) => {
    // invalid UTF-8 inside a string field [MQTT-1.5.3-1]: a lone continuation byte, an overlong NUL, a surrogate
    const out = Buffer.from(buf);
    if (out.length < 6) return out;
    const seq = r.pick([[0x80], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xff], [0x00]]);
    const at = r.int(4, out.length - seq.length);
    seq.forEach((b, k) => (out[at + k] = b));
    return out;
  },
};

export const MUTATOR_NAMES = Object.keys(MUTATORS);

export interface RawConnect {
  protocolId: string;
  protocolVersion: number;
  clientId: string;
  clean: boolean;
  keepalive: number;
  username?: string;
  password?: Buffer;
  will?: { topic: string; payload: Buffer; qos: number; retain: boolean };
}

/** A CONNECT packet written field by field, whatever its fields say (MQTT 3.1.1 layout). */
export function rawConnect(c: RawConnect): Buffer {
  const str = (v: string | Buffer): Buffer => {
    const b = (typeof v === 'string' ? Buffer.from(v) : v).subarray(0, 0xffff);
    return Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b]);
  };
  let flags = c.clean ? 0x02 : 0;
  if (c.will) flags |= 0x04 | ((c.will.qos & 3) << 3) | (c.will.retain ? 0x20 : 0);
  if (c.username !== undefined) flags |= 0x80;
  if (c.password !== undefined) flags |= 0x40;
  const body = Buffer.concat([
    str(c.protocolId),
    Buffer.from([c.protocolVersion & 0xff, flags, (c.keepalive >> 8) & 0xff, c.keepalive & 0xff]),
    str(c.clientId),
    ...(c.will ? [str(c.will.topic), str(c.will.payload)] : []),
    ...(c.username !== undefined ? [str(c.username)] : []),
    ...(c.password !== undefined ? [str(c.password)] : []),
  ]);
  return Buffer.concat([Buffer.from([0x10]), varint(body.length), body]);
}

