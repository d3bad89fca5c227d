// The MQTT target: session scripts (mqtt-packets.ts) over raw TCP to the embedded broker, a few over the
// WebSocket listener, each from one of many loopback source addresses (127.0.1.x for sessions with valid
// credentials, 127.0.2.x for failed logins) so the per-address connection-rate and failed-login limits see a
// crowd of devices, not one. Oracles on the answers: no PUBACK/PUBREC for packet id 0 [MQTT-2.3.1-1], no retained
// message for a topic that is not a registered bin's status, and the broker never sends bytes that do not parse.
import net from 'node:net';
import fc from 'fast-check';
import mqttPacket from 'mqtt-packet';
import WebSocket from 'ws';
import { HOST } from '../bridge.js';
import { deriveSeed } from '../rng.js';
import { clip, type TargetStats } from '../stats.js';
import { buildScript, planArb, scriptBytes, type MqttScript, type ScriptContext } from './mqtt-packets.js';
import type { NetworkTarget } from './network.js';

interface ScriptResult {
  outcome: 'sentinel' | 'closed' | 'silent' | 'reset' | 'error';
  answers: string[];
  retained: { topic: string; bytes: number }[];
  zeroIdAck: string | null;
  badServerBytes: string | null;
}

// Silence after the last byte means the broker waits for more (a length lie, a truncated packet). How long is
// silence: 3 × the recent median time to the sentinel's PINGRESP (a busy bridge answers later), in 0.3–5 s.
// The verdict waits one more turn of the loop (setImmediate), so bytes that arrived while this process was busy
// are read before the timer calls them missing.
const answerTimes: number[] = [];
function noteAnswer(ms: number): void {
  answerTimes.push(ms);
  if (answerTimes.length > 200) answerTimes.shift();
}
function silenceMs(): number {
  if (answerTimes.length < 10) return 1000;
  const sorted = [...answerTimes].sort((a, b) => a - b);
  return Math.min(5000, Math.max(300, 3 * sorted[sorted.length >> 1]!));
}
const LINGER_MS = 40;
const HARD_TIMEOUT_MS = 10_000;

function collector(result: ScriptResult, onSentinel: () => void, written: () => boolean) {
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  parser.on('packet', (p: mqttPacket.Packet) => {
    switch (p.cmd) {
      case 'connack':
        result.answers.push(`connack:${(p as mqttPacket.IConnackPacket).returnCode ?? '?'}`);
        break;
      case 'suback': {
        const granted = (p as mqttPacket.ISubackPacket).granted as number[];
        result.answers.push(granted.some((g) => g === 128) ? 'suback:128' : 'suback');
        break;
      }
      case 'puback':
      case 'pubrec':
        if (p.messageId === 0) result.zeroIdAck = p.cmd;
        result.answers.push(p.cmd);
        break;
      case 'publish': {
        const pub = p as mqttPacket.IPublishPacket;
        if (pub.retain) result.retained.push({ topic: pub.topic, bytes: pub.payload.length });
        result.answers.push(pub.retain ? 'publish:retained' : 'publish');
        break;
      }
      case 'pingresp':
        result.answers.push('pingresp');
        if (written()) onSentinel();
        break;
      default:
        result.answers.push(p.cmd);
    }
  });
  parser.on('error', (err: Error) => {
    result.badServerBytes ??= err.message;
  });
  return parser;
}

function runTcp(script: MqttScript, port: number, localAddress: string): Promise<ScriptResult> {
  return new Promise((resolve) => {
    const result: ScriptResult = { outcome: 'silent', answers: [], retained: [], zeroIdAck: null, badServerBytes: null };
    let allWritten = false;
    let finished = false;
    let waitTimer: NodeJS.Timeout | null = null;
    const finish = (outcome: ScriptResult['outcome']): void => {
      if (finished) return;
      finished = true;
      result.outcome = outcome;
      clearTimeout(hard);
      if (waitTimer) clearTimeout(waitTimer);
      socket.destroy();
      resolve(result);
    };
    // a QoS 1/2 answer may follow the PINGRESP (it waits for the durable commit): a moment for it
    let writtenAt = 0;
    const sentinelSeen = (): void => {
      noteAnswer(performance.now() - writtenAt);
      setTimeout(() => finish('sentinel'), LINGER_MS);
    };
    const parser = collector(result, sentinelSeen, () => allWritten);
    const socket = net.connect({ host: HOST, port, localAddress });
    const hard = setTimeout(() => finish('silent'), HARD_TIMEOUT_MS);
    socket.setNoDelay(true);
    socket.on('data', (d: Buffer) => parser.parse(d));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      result.answers.push(`error:${err.code ?? err.message}`);
      finish(err.code === 'ECONNRESET' || err.code === 'EPIPE' ? 'reset' : 'error');
    });
    socket.on('close', () => finish('closed'));
    socket.on('connect', async () => {
      for (const chunk of script.chunks) {
        if (finished) return;
        socket.write(chunk);
        // a turn of the event loop between writes, so odd chunks arrive as odd segments
        if (script.chunks.length > 1) await new Promise((r) => setImmediate(r));
      }
      allWritten = true;
      writtenAt = performance.now();
      if (result.answers.at(-1) === 'pingresp' && script.sentinel) return sentinelSeen();
      waitTimer = setTimeout(() => setImmediate(() => finish('silent')), silenceMs());
    });
  });
}

function runWs(script: MqttScript, httpPort: number, localAddress: string): Promise<ScriptResult> {
  return new Promise((resolve) => {
    const result: ScriptResult = { outcome: 'silent', answers: [], retained: [], zeroIdAck: null, badServerBytes: null };
    let allWritten = false;
    let finished = false;
    let waitTimer: NodeJS.Timeout | null = null;
    const ws = new WebSocket(`ws://${HOST}:${httpPort}/mqtt`, ['mqtt'], { localAddress, handshakeTimeout: 5000 });
    const finish = (outcome: ScriptResult['outcome']): void => {
      if (finished) return;
      finished = true;
      result.outcome = outcome;
      clearTimeout(hard);
      if (waitTimer) clearTimeout(waitTimer);
      ws.terminate();
      resolve(result);
    };
    const parser = collector(result, () => void setTimeout(() => finish('sentinel'), LINGER_MS), () => allWritten);
    const hard = setTimeout(() => finish('silent'), HARD_TIMEOUT_MS);
    ws.on('message', (d: Buffer) => parser.parse(Buffer.isBuffer(d) ? d : Buffer.from(d as ArrayBuffer)));
    ws.on('error', (err: NodeJS.ErrnoException) => {
      result.answers.push(`error:${err.code ?? err.message.slice(0, 40)}`);
      finish('error');
    });
    ws.on('close', (code) => {
      result.answers.push(`ws_close:${code}`);
      finish('closed');
    });
    ws.on('open', () => {
      for (const chunk of script.chunks) ws.send(chunk);
      allWritten = true;
      waitTimer = setTimeout(() => setImmediate(() => finish('silent')), silenceMs());
    });
  });
}

/** A retained topic binbridge may keep: a registered bin's status. */
function allowedRetained(topic: string, registered: (id: string) => boolean): boolean {
  const m = /^bins\/([^/]+)\/status$/.exec(topic);
  return m !== null && registered(m[1]!);
}

export async function fuzzMqtt(t: NetworkTarget, sctx: ScriptContext): Promise<void> {
  const stats: TargetStats = t.stats;
  const arb = planArb(sctx);
  let next = t.first;
  const suspects = new Map<string, { bytes: number; script: string; at: string }>();
  const worker = async (w: number): Promise<void> => {
    while (next < t.budget && Date.now() < t.deadline && t.bridge.alive) {
      const i = next++;
      const seed = deriveSeed(t.seed, 'mqtt', t.phase, i);
      const [plan] = fc.sample(arb, { seed, numRuns: 1 });
      const script = buildScript(plan!, seed, sctx);
      const local = script.pool === 'bad' ? `127.0.2.${1 + ((i * 7 + w) % 250)}` : `127.0.1.${1 + ((i * 13 + w) % 250)}`;
      stats.inputs++;
      stats.remember(clip(script.summary, 300));
      for (const m of script.mutations) stats.answer(`mutation:${m}`);
      const res = script.ws ? await runWs(script, t.bridge.httpPort, local) : await runTcp(script, t.bridge.mqttPort, local);
      stats.detail(() => `${script.summary}\nbytes (base64): ${scriptBytes(script, 1 << 20)}\nanswers: ${res.answers.join(', ')}; outcome ${res.outcome}`);
      stats.answer(`outcome:${res.outcome}${script.ws ? ':ws' : ''}`);
      for (const a of res.answers) stats.answer(a);
      const refused = res.answers.some((a) => (a.startsWith('connack:') && a !== 'connack:0') || a === 'suback:128') || res.outcome === 'closed';
      if (refused) stats.refusals++;
      const at = `npm run fuzz -- --seed ${t.seed} --replay mqtt:${t.phase}:${i}`;
      if (res.zeroIdAck) {
        stats.find({
          check: 'mqtt_packet_id_0',
          phase: t.phase,
          message: `the broker answered a QoS ${res.zeroIdAck === 'puback' ? 1 : 2} PUBLISH with packet id 0 with ${res.zeroIdAck.toUpperCase()} (a packet id must be non-zero [MQTT-2.3.1-1])`,
          input: `${script.summary}\nbytes (base64): ${scriptBytes(script)}`,
          at,
        });
      }
      if (res.badServerBytes) {
        stats.find({ check: 'mqtt_server_bytes', phase: t.phase, message: `the broker sent bytes that do not parse as MQTT 3.1.1: ${res.badServerBytes}`, input: script.summary, at });
      }
      for (const r of res.retained) {
        if (!allowedRetained(r.topic, t.knownBins.has.bind(t.knownBins)) && !suspects.has(r.topic) && suspects.size < 1000) {
          suspects.set(r.topic, { bytes: r.bytes, script: script.summary, at });
        }
      }
    }
  };
  stats.begin();
  try {
    await Promise.all(Array.from({ length: t.concurrency }, (_, w) => worker(w)));
  } finally {
    stats.end();
  }
  if (suspects.size > 0) {
    // bins added through the API while fuzzing are registered too: ask the bridge before calling it a defect
    const registered = await t.registeredBins();
    const bad = [...suspects].filter(([topic]) => !allowedRetained(topic, (id) => registered.has(id)));
    if (bad.length > 0) {
      const [topic, s] = bad[0]!;
      stats.find({
        check: 'mqtt_retained_unregistered',
        phase: t.phase,
        message: `the broker keeps retained messages for ${bad.length} topic(s) that are not a registered bin's status, e.g. ${clip(JSON.stringify(topic), 120)} (${s.bytes} B); seen by a later SUBSCRIBE`,
        input: bad
          .slice(0, 5)
          .map(([tp, x]) => `${clip(JSON.stringify(tp), 100)} (${x.bytes} B)`)
          .join('\n'),
        at: s.at,
      });
    }
  }
}
