// MQTT inputs: a session script (CONNECT, then PUBLISH QoS 0/1/2, SUBSCRIBE, UNSUBSCRIBE, PINGREQ, PUBREL, ...,
// DISCONNECT) planned by fast-check with valid and invalid fields, encoded by mqtt-packet's generate(), then
// mutated byte-wise (bit flips, truncation, lies in the remaining-length varint, oversize, random bytes) and cut
// into odd chunks. Pure: the same seed gives the same bytes.
import fc from 'fast-check';
import mqttPacket from 'mqtt-packet';
import { anyText, anyValue } from '../hostile.js';
import { Rng } from '../rng.js';
import { MUTATOR_NAMES, MUTATORS, rawConnect, varint, type RawConnect } from './mqtt-bytes.js';

export interface ScriptContext {
  auth: 'devices' | 'none';
  /** provisioned fuzz devices (auth: devices) */
  devices: readonly { bin: string; secret: string }[];
  /** registered bins, for topics */
  bins: readonly string[];
  /** the good device's client id and bin: never used by the fuzzer (no session take-over of the control) */
  goodClientId: string;
  goodBin: string;
  maxPacketBytes: number;
  /** a fixed "now" for readings' timestamps, so the plan is a function of the seed only */
  nowMs: number;
}

type Credentials = 'valid' | 'wrong_password' | 'unknown_user' | 'no_password' | 'no_username' | 'client_id_mismatch' | 'anonymous';

interface ConnectPlan {
  device: number;
  creds: Credentials;
  clientId: string;
  protocolVersion: 3 | 4 | 5;
  keepalive: number;
  clean: boolean;
  will: { topic: string; payload: string; qos: 0 | 1 | 2; retain: boolean } | null;
  username: string | null;
  password: string | null;
}

type PacketPlan =
  | { cmd: 'publish'; topic: string; payload: PayloadPlan; qos: 0 | 1 | 2; retain: boolean; dup: boolean; messageId: number }
  | { cmd: 'subscribe'; messageId: number; subscriptions: { topic: string; qos: 0 | 1 | 2 }[] }
  | { cmd: 'unsubscribe'; messageId: number; unsubscriptions: string[] }
  | { cmd: 'pubrel' | 'puback' | 'pubrec' | 'pubcomp'; messageId: number }
  | { cmd: 'pingreq' | 'disconnect' | 'connect' }
  | { cmd: 'raw'; bytes: Uint8Array }
  | { cmd: 'oversize'; size: number; honest: boolean };

type PayloadPlan = { text: string } | { bytes: Uint8Array } | { size: number };

export interface ScriptPlan {
  kind: 'session' | 'bad_login' | 'raw';
  connect: ConnectPlan;
  packets: PacketPlan[];
  /** chance that each packet is mutated */
  mutateRate: number;
  split: boolean;
  ws: boolean;
}

export interface MqttScript {
  /** the address pool: failed logins come from other addresses than good ones, so the failed-login block
   *  (per address and bin) does not lock the fuzzer's own valid sessions out */
  pool: 'ok' | 'bad';
  ws: boolean;
  chunks: Buffer[];
  /** a PINGREQ at the end: its PINGRESP says the broker read everything before it */
  sentinel: boolean;
  summary: string;
  /** mutations applied, for the counts */
  mutations: string[];
}

const FIELD_NAMES = ['fill_pct', 'distance_mm', 'battery_pct', 'temperature_c', 'tilt', 'rssi', 'ts', 'fill', 'level', 'battery', '__proto__', 'constructor'] as const;

function topicArb(own: string, ctx: ScriptContext): fc.Arbitrary<string> {
  const other = fc.constantFrom(...ctx.bins.filter((b) => b !== ctx.goodBin));
  return fc.oneof(
    { weight: 10, arbitrary: fc.constant(`bins/${own}/telemetry`) },
    { weight: 3, arbitrary: fc.constant(`bins/${own}/status`) },
    { weight: 2, arbitrary: other.map((b) => `bins/${b}/telemetry`) },
    { weight: 1, arbitrary: other.map((b) => `bins/${b}/status`) },
    { weight: 2, arbitrary: anyText(30).map((id) => `bins/${id}/telemetry`) },
    { weight: 2, arbitrary: anyText(30).map((id) => `bins/${id}/status`) },
    { weight: 1, arbitrary: fc.constantFrom('$SYS/broker/uptime', '$share/g/bins/x', 'bins/+/telemetry', 'bins/#', '#', '+', '', '/', 'bins//telemetry', `bins/${own}/telemetry/extra`, `bins/${own}`, `BINS/${own}/TELEMETRY`) },
    { weight: 1, arbitrary: fc.integer({ min: 100, max: 6000 }).map((n) => `bins/${'x'.repeat(n)}/telemetry`) },
    { weight: 1, arbitrary: anyText(80) },
  );
}

function filterArb(own: string): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(`bins/${own}/#`, `bins/${own}/status`, `bins/${own}/+`, 'bins/#', 'bins/+/status', 'bins/+/telemetry') },
    { weight: 2, arbitrary: fc.constantFrom('#', '+', '$SYS/#', '+/#', 'a/#/b', 'bins/a+', '', '/', '$share/g/#', 'bins/#/#', '#/') },
    { weight: 2, arbitrary: anyText(40) },
  );
}

function payloadArb(ctx: ScriptContext): fc.Arbitrary<PayloadPlan> {
  const reading = fc
    .record(
      {
        fill_pct: fc.double({ min: 0, max: 100, noNaN: true }),
        battery_pct: fc.integer({ min: 0, max: 100 }),
        temperature_c: fc.double({ min: -20, max: 80, noNaN: true }),
        ts: fc.integer({ min: ctx.nowMs - 86_400_000, max: ctx.nowMs }),
      },
      { requiredKeys: ['fill_pct'] },
    )
    .map((r) => ({ text: JSON.stringify(r) }));
  const hostile = fc.dictionary(fc.constantFrom(...FIELD_NAMES), anyValue, { maxKeys: 6 }).map((o) => {
    try {
      return { text: JSON.stringify(o) ?? 'null' };
    } catch {
      return { text: '{}' };
    }
  });
  return fc.oneof(
    { weight: 6, arbitrary: reading },
    { weight: 4, arbitrary: hostile },
    { weight: 2, arbitrary: fc.json({ maxDepth: 3 }).map((text) => ({ text })) },
    { weight: 1, arbitrary: anyText(100).map((text) => ({ text })) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 80 }).map((bytes) => ({ bytes })) },
    { weight: 2, arbitrary: fc.constantFrom('online', 'offline', ' ONLINE ', 'Offline\n', '', 'on line').map((text) => ({ text })) },
    { weight: 1, arbitrary: fc.integer({ min: ctx.maxPacketBytes - 200, max: ctx.maxPacketBytes + 2000 }).map((size) => ({ size })) },
  );
}

const messageIdArb = fc.oneof({ weight: 8, arbitrary: fc.integer({ min: 1, max: 65535 }) }, { weight: 1, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.constantFrom(1, 2, 65535) });
const qosArb = fc.constantFrom<0 | 1 | 2>(0, 1, 1, 1, 2, 2);

function packetArb(own: string, ctx: ScriptContext): fc.Arbitrary<PacketPlan> {
  return fc.oneof(
    {
      weight: 12,
      arbitrary: fc.record({
        cmd: fc.constant('publish' as const),
        topic: topicArb(own, ctx),
        payload: payloadArb(ctx),
        qos: qosArb,
        retain: fc.boolean(),
        dup: fc.oneof({ weight: 5, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
        messageId: messageIdArb,
      }),
    },
    {
      weight: 3,
      arbitrary: fc.record({
        cmd: fc.constant('subscribe' as const),
        messageId: messageIdArb,
        subscriptions: fc.array(fc.record({ topic: filterArb(own), qos: qosArb }), { minLength: 1, maxLength: 4 }),
      }),
    },
    { weight: 1, arbitrary: fc.record({ cmd: fc.constant('unsubscribe' as const), messageId: messageIdArb, unsubscriptions: fc.array(filterArb(own), { minLength: 1, maxLength: 3 }) }) },
    { weight: 3, arbitrary: fc.record({ cmd: fc.constantFrom('pubrel' as const, 'puback' as const, 'pubrec' as const, 'pubcomp' as const), messageId: messageIdArb }) },
    { weight: 2, arbitrary: fc.record({ cmd: fc.constantFrom('pingreq' as const, 'disconnect' as const, 'connect' as const) }) },
    { weight: 1, arbitrary: fc.record({ cmd: fc.constant('raw' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 64 }) }) },
    { weight: 1, arbitrary: fc.record({ cmd: fc.constant('oversize' as const), size: fc.integer({ min: ctx.maxPacketBytes + 1, max: ctx.maxPacketBytes * 4 }), honest: fc.boolean() }) },
  );
}

function connectArb(ctx: ScriptContext, bad: boolean): fc.Arbitrary<ConnectPlan> {
  const devicesMode = ctx.auth === 'devices';
  const creds: fc.Arbitrary<Credentials> = !devicesMode
    ? fc.constant('anonymous')
    : bad
      ? fc.constantFrom('wrong_password', 'unknown_user', 'no_password', 'no_username')
      : fc.oneof({ weight: 12, arbitrary: fc.constant('valid' as const) }, { weight: 1, arbitrary: fc.constant('client_id_mismatch' as const) });
  return fc.record({
    device: fc.nat({ max: Math.max(0, ctx.devices.length - 1) }),
    creds,
    clientId: fc.oneof(
      { weight: 6, arbitrary: fc.stringMatching(/^fuzz-[a-z0-9]{4,12}$/) },
      { weight: 1, arbitrary: fc.constant('') },
      { weight: 2, arbitrary: anyText(30) },
      { weight: 1, arbitrary: fc.integer({ min: 24, max: 4000 }).map((n) => 'c'.repeat(n)) },
    ),
    protocolVersion: fc.constantFrom<3 | 4 | 5>(4, 4, 4, 4, 4, 4, 4, 4, 3, 5),
    keepalive: fc.oneof(fc.constantFrom(0, 1, 10, 60, 65535), fc.nat({ max: 65535 })),
    clean: fc.boolean(),
    will: fc.oneof(
      { weight: 3, arbitrary: fc.constant(null) },
      { weight: 1, arbitrary: fc.record({ topic: topicArb('%OWN%', ctx), payload: fc.constantFrom('offline', 'online', '', 'x'.repeat(300)), qos: qosArb, retain: fc.boolean() }) },
    ),
    username: fc.option(anyText(40), { freq: 3 }),
    password: fc.option(anyText(40), { freq: 3 }),
  });
}

export function planArb(ctx: ScriptContext): fc.Arbitrary<ScriptPlan> {
  const own = '%OWN%';
  const session = (kind: ScriptPlan['kind'], bad: boolean, maxPackets: number) =>
    fc.record({
      kind: fc.constant(kind),
      connect: connectArb(ctx, bad),
      packets: fc.array(packetArb(own, ctx), { minLength: 0, maxLength: maxPackets }),
      mutateRate: fc.constantFrom(0, 0, 0.15, 0.35, 0.7),
      split: fc.boolean(),
      ws: fc.oneof({ weight: 30, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
    });
  return fc.oneof(
    { weight: 16, arbitrary: session('session', false, 6) },
    { weight: ctx.auth === 'devices' ? 2 : 0, arbitrary: session('bad_login', true, 2) },
    { weight: 1, arbitrary: session('raw', false, 0) },
  );
}

// ---------------------------------------------------------------------------------------------------------
// encoding and mutation

function resolveTopic(t: string, own: string): string {
  return t.replaceAll('%OWN%', own);
}

function payloadBytes(p: PayloadPlan): Buffer {
  if ('text' in p) return Buffer.from(p.text);
  if ('bytes' in p) return Buffer.from(p.bytes);
  const head = '{"fill_pct":50,"pad":"';
  return Buffer.from(head + 'x'.repeat(Math.max(0, p.size - head.length - 2)) + '"}');
}

function encode(packet: object, protocolVersion: number): Buffer {
  return mqttPacket.generate(packet as mqttPacket.Packet, { protocolVersion: protocolVersion as 3 | 4 | 5 });
}

function connectPacket(c: ConnectPlan, ctx: ScriptContext): { packet: object; own: string } {
  const dev = ctx.devices[c.device];
  const own = dev?.bin ?? ctx.bins[c.device % ctx.bins.length] ?? 'UTR-0002';
  let clientId = c.clientId === ctx.goodClientId ? `${c.clientId}-x` : c.clientId;
  let username: string | undefined = c.username ?? undefined;
  let password: Buffer | undefined = c.password === null ? undefined : Buffer.from(c.password);
  if (ctx.auth === 'devices' && dev) {
    switch (c.creds) {
      case 'valid':
        clientId = dev.bin;
        username = dev.bin;
        password = Buffer.from(dev.secret);
        break;
      case 'client_id_mismatch':
        username = dev.bin;
        password = Buffer.from(dev.secret);
        if (clientId === dev.bin) clientId = `${dev.bin}-other`;
        break;
      case 'wrong_password':
        clientId = dev.bin;
        username = dev.bin;
        password = Buffer.from(c.password ?? 'wrong');
        break;
      case 'unknown_user':
        username = c.username ?? 'NO-SUCH-BIN';
        password = Buffer.from(c.password ?? 'x');
        break;
      case 'no_password':
        username = dev.bin;
        password = undefined;
        break;
      case 'no_username':
        username = undefined;
        password = undefined;
        break;
      default:
        break;
    }
  }
  if (clientId === ctx.goodClientId || username === ctx.goodBin) {
    clientId = `${clientId}-x`;
    if (username === ctx.goodBin) username = `${username}-x`;
  }
  // [MQTT-3.1.2-22] a password without a user name is a protocol error: keep some, generate() refuses them
  if (username === undefined) password = undefined;
  const packet = {
    cmd: 'connect',
    protocolId: c.protocolVersion === 3 ? 'MQIsdp' : 'MQTT',
    protocolVersion: c.protocolVersion,
    clientId,
    clean: c.clean,
    keepalive: c.keepalive,
    ...(username !== undefined ? { username } : {}),
    ...(password !== undefined ? { password } : {}),
    ...(c.will ? { will: { topic: resolveTopic(c.will.topic, own), payload: Buffer.from(c.will.payload), qos: c.will.qos, retain: c.will.retain } } : {}),
  };
  return { packet, own };
}

function packetBytes(p: PacketPlan, own: string, ctx: ScriptContext, connect: object): { bytes: Buffer; label: string } {
  switch (p.cmd) {
    case 'publish': {
      const topic = resolveTopic(p.topic, own);
      const bytes = encode({ cmd: 'publish', topic, payload: payloadBytes(p.payload), qos: p.qos, retain: p.retain, dup: p.dup, ...(p.qos > 0 ? { messageId: p.messageId } : {}) }, 4);
      return { bytes, label: `publish q${p.qos}${p.retain ? ' retain' : ''}${p.dup ? ' dup' : ''}${p.qos > 0 ? ` id=${p.messageId}` : ''} ${short(topic)}` };
    }
    case 'subscribe':
      return {
        bytes: encode({ cmd: 'subscribe', messageId: p.messageId, subscriptions: p.subscriptions.map((s) => ({ ...s, topic: resolveTopic(s.topic, own) })) }, 4),
        label: `subscribe ${p.subscriptions.map((s) => short(resolveTopic(s.topic, own))).join(',')}`,
      };
    case 'unsubscribe':
      return { bytes: encode({ cmd: 'unsubscribe', messageId: p.messageId, unsubscriptions: p.unsubscriptions.map((t) => resolveTopic(t, own)) }, 4), label: 'unsubscribe' };
    case 'pubrel':
    case 'puback':
    case 'pubrec':
    case 'pubcomp':
      return { bytes: encode({ cmd: p.cmd, messageId: p.messageId }, 4), label: `${p.cmd} id=${p.messageId}` };
    case 'pingreq':
    case 'disconnect':
      return { bytes: encode({ cmd: p.cmd }, 4), label: p.cmd };
    case 'connect':
      return { bytes: rawConnect(connect as RawConnect), label: 'second connect' };
    case 'raw':
      return { bytes: Buffer.from(p.bytes), label: `raw ${p.bytes.length} B` };
    case 'oversize': {
      const topic = Buffer.from(`bins/${own}/telemetry`);
      const body = Buffer.concat([Buffer.from([topic.length >> 8, topic.length & 0xff]), topic, Buffer.alloc(Math.max(0, p.size - topic.length - 2), 0x61)]);
      // honest: the whole oversize packet; otherwise only its header claims the size
      const bytes = Buffer.concat([Buffer.from([0x30]), varint(body.length), p.honest ? body : body.subarray(0, 64)]);
      return { bytes, label: `oversize ${p.size} B${p.honest ? '' : ' (header only)'}` };
    }
  }
}

const short = (s: string): string => (s.length > 48 ? `${JSON.stringify(s.slice(0, 40))}…(${s.length})` : JSON.stringify(s));

/** The bytes of one script; the mutations come from `seed` (the plan from fast-check with the same seed). */
export function buildScript(plan: ScriptPlan, seed: number, ctx: ScriptContext): MqttScript {
  const r = new Rng(seed);
  const { packet: connect, own } = connectPacket(plan.connect, ctx);
  const parts: Buffer[] = [];
  const labels: string[] = [];
  const mutations: string[] = [];
  const pool = plan.kind === 'bad_login' || plan.connect.creds !== 'valid' ? (ctx.auth === 'devices' ? 'bad' : 'ok') : 'ok';
  const add = (bytes: Buffer, label: string, mutable: boolean): void => {
    if (mutable && r.chance(plan.mutateRate)) {
      const how = r.pick(MUTATOR_NAMES);
      bytes = MUTATORS[how]!(bytes, r, ctx);
      mutations.push(how);
      label += ` [${how}]`;
    }
    parts.push(bytes);
    labels.push(label);
  };
  if (plan.kind === 'raw') {
    add(r.bytes(r.int(1, 256)), 'random bytes', false);
    mutations.push('random_bytes');
  } else {
    let connectBytes: Buffer;
    try {
      connectBytes = encode(connect, plan.connect.protocolVersion);
    } catch {
      // generate() refuses what the spec forbids (an empty client id with clean: false, ...): built by hand
      connectBytes = rawConnect(connect as RawConnect);
    }
    add(connectBytes, `connect v${plan.connect.protocolVersion} ${plan.connect.creds}${plan.connect.will ? ' will' : ''}`, true);
    for (const p of plan.packets) {
      try {
        const { bytes, label } = packetBytes(p, own, ctx, connect);
        add(bytes, label, true);
      } catch (err) {
        // generate() refuses some invalid fields (that is the library being careful): send raw bytes instead
        add(r.bytes(r.int(2, 16)), `unencodable ${p.cmd} (${(err as Error).message.slice(0, 40)})`, false);
      }
    }
  }
  const last = plan.packets[plan.packets.length - 1];
  const sentinel = plan.kind !== 'raw' && last?.cmd !== 'disconnect';
  if (sentinel) parts.push(Buffer.from([0xc0, 0x00]));
  const all = Buffer.concat(parts);
  let chunks: Buffer[];
  if (plan.split && all.length > 1) {
    chunks = [];
    for (let i = 0; i < all.length; ) {
      const n = r.chance(0.3) ? 1 : r.int(1, Math.max(1, Math.ceil(all.length / 3)));
      chunks.push(all.subarray(i, i + n));
      i += n;
    }
  } else chunks = parts.length > 0 ? parts : [all];
  const summary = `${ctx.auth}/${plan.kind}${plan.ws ? '/ws' : ''}: ${labels.join(' + ')}${sentinel ? ' + pingreq' : ''} | ${all.length} B in ${chunks.length} chunk(s)`;
  return { pool, ws: plan.ws, chunks, sentinel, summary, mutations };
}

/** For findings: the script's bytes, base64 (clipped). */
export function scriptBytes(s: MqttScript, max = 4096): string {
  const all = Buffer.concat(s.chunks);
  return all.length <= max ? all.toString('base64') : `${all.subarray(0, max).toString('base64')}… (${all.length} B)`;
}
