import type { Clock } from '../clock.js';
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { Aedes, type AedesPublishPacket, type Client, type PublishPacket, type Subscription } from 'aedes';
import { WebSocketServer, createWebSocketStream } from 'ws';
import type { Config } from '../config/index.js';
import type { Ingest, IngestOutcome } from '../ingest/index.js';
import { LogThrottle, type Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { BinStateStore } from '../storage/index.js';
import { canPublish, canRetain, canSubscribe, type Decision, type Principal } from './acl.js';
import type { DeviceSecrets } from './device-secrets.js';
import { ConnectLimit } from './connect-limit.js';
import { DeviceSessions, type DeviceSession } from './device-sessions.js';
import { LoginGuard } from './login-guard.js';
import { createPacketSizeGuard } from './packet-size-guard.js';
import { STATUS, parseBinTopic, parseStatus, statusTopic, type BinTopic } from './topics.js';

export interface BrokerDeps {
  config: Config['mqtt'];
  ingest: Ingest;
  secrets: DeviceSecrets;
  binState: BinStateStore;
  isKnownBin: (binId: string) => boolean;
  metrics: Metrics;
  log: Logger;
  clock?: Clock;
}

export interface BrokerPorts {
  tcp: number | null;
  tls: number | null;
}

// mqtt-packet, which aedes writes every packet with, by default fills a cache of 65,536 two-byte Buffers (one per
// packet id) at its first packet: 7.5 MB of heap for good, to save one 2-byte allocation per PUBACK. The instance
// aedes itself loads is the one told.
const aedesRequire = createRequire(createRequire(import.meta.url).resolve('aedes'));
(aedesRequire('mqtt-packet') as { writeToStream: { cacheNumbers: boolean } }).writeToStream.cacheNumbers = false;

// CONNACK return codes of MQTT 3.1.1 [MQTT-3.2.2-3]
const IDENTIFIER_REJECTED = 2;
const BAD_USERNAME_OR_PASSWORD = 4;
const NOT_AUTHORIZED = 5;

type BinClient = Client &
  DeviceSession & {
    principal?: Principal;
    willTopic?: string;
    will?: unknown;
    /** set once the session is being closed because its secret was revoked or rotated */
    revoked?: boolean;
    /** this session's QoS 2 readings being recorded, by packet id */
    qos2?: Map<number, Promise<Error | null>>;
    /** the topic this session last published to, parsed and decided (a device publishes to the same few) */
    lastTopic?: { topic: string; decision: Decision; parsed: BinTopic | null };
  };

function refusal(message: string, returnCode: number): Error & { returnCode: number } {
  return Object.assign(new Error(message), { returnCode });
}

/**
 * The answer to a reading: null acknowledges it, an error closes the connection unacknowledged. An invalid reading
 * is acknowledged and dropped (counted): resending it would not make it valid. A valid one that could not be
 * recorded is not acknowledged, so the device keeps and resends it.
 */
const answer = (outcome: IngestOutcome): Error | null => (outcome.ok || !outcome.retryable ? null : new Error(`reading not recorded: ${outcome.reason}`));

function remoteAddress(client: Client): string {
  return client.req?.socket?.remoteAddress ?? (client.conn as Partial<net.Socket>).remoteAddress ?? 'unknown';
}

/**
 * The embedded aedes broker, extended only through its hooks: per-device authentication, the topic ACL,
 * a connection-rate limit, a packet-size limit, and ingest in authorizePublish — the one hook whose
 * callback comes before a QoS 1 PUBACK, so a reading is acknowledged only once it is durably recorded.
 */
export class MqttBroker {
  private aedes: Aedes | null = null;
  private readonly servers: net.Server[] = [];
  private wss: WebSocketServer | null = null;
  private stopping = false;
  private readonly connectLimit: ConnectLimit;
  private readonly logins: LoginGuard;
  private readonly throttle = new LogThrottle(60_000);
  /** sessions of devices logged in with a secret, ended when their secret is revoked or rotated */
  private readonly sessions: DeviceSessions<BinClient>;
  ports: BrokerPorts = { tcp: null, tls: null };

  constructor(private readonly deps: BrokerDeps) {
    this.connectLimit = new ConnectLimit({ perSecond: deps.config.connect_rate_per_ip, clock: deps.clock });
    this.logins = new LoginGuard({ failuresPerMin: deps.config.auth_failures_per_min, blockAddresses: deps.config.auth_block_addresses });
    this.sessions = new DeviceSessions(deps.secrets, (c) => this.endSession(c), deps.log, undefined, deps.clock);
  }

  get listening(): boolean {
    return this.aedes !== null && !this.stopping;
  }

  async start(): Promise<BrokerPorts> {
    const { config, log } = this.deps;
    if (config.auth === 'none') {
      log.warn({ auth: 'none' }, 'MQTT authentication is OFF: any client may publish telemetry for any registered bin ($SYS stays denied)');
    }
    this.aedes = await Aedes.createBroker({
      preConnect: (c, packet, cb) => this.preConnect(c as BinClient, packet, cb),
      authenticate: (c, username, password, cb) => void this.authenticate(c as BinClient, username, password, cb),
      authorizePublish: (c, packet, cb) => this.authorizePublish(c as BinClient | null, packet, cb),
      authorizeSubscribe: (c, sub, cb) => this.authorizeSubscribe(c as BinClient, sub, cb),
    });
    const updateConnected = (): void => this.deps.metrics.mqttConnectedDevices.set(this.aedes?.connectedClients ?? 0);
    this.aedes.on('client', (c: BinClient) => {
      this.sessions.add(c);
      updateConnected();
    });
    this.aedes.on('clientDisconnect', (c: BinClient) => {
      this.sessions.delete(c);
      updateConnected();
    });
    this.sessions.start();
    this.aedes.on('clientError', (c: Client, err: Error) => this.debugOnce(c, err));
    this.aedes.on('connectionError', (c: Client, err: Error) => this.debugOnce(c, err));

    if (config.port >= 0) {
      const server = net.createServer((socket) => this.handle(socket));
      this.ports.tcp = await this.listen(server, config.port, config.host);
    }
    if (config.tls.port >= 0 && config.tls.cert && config.tls.key) {
      const server = tls.createServer({ cert: fs.readFileSync(config.tls.cert), key: fs.readFileSync(config.tls.key), minVersion: 'TLSv1.2' }, (socket) =>
        this.handle(socket),
      );
      this.ports.tls = await this.listen(server, config.tls.port, config.host);
    }
    return this.ports;
  }

  /** MQTT over WebSocket on the HTTP listener, at mqtt.ws_path. */
  attachWebSocket(http: HttpServer): void {
    this.wss = new WebSocketServer({ noServer: true, maxPayload: this.deps.config.max_packet_bytes + 16 });
    http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (new URL(req.url ?? '/', 'http://x').pathname !== this.deps.config.ws_path || !this.aedes || this.stopping) {
        socket.destroy();
        return;
      }
      this.wss!.handleUpgrade(req, socket, head, (ws) => this.handle(createWebSocketStream(ws), req));
    });
  }

  /**
   * Deletes the retained status of a bin (a bin removed from the registry), with an empty retained message
   * [MQTT-3.3.1-10]; published by the broker itself, so no client hook is asked.
   */
  clearRetained(binId: string): Promise<void> {
    const aedes = this.aedes;
    if (!aedes) return Promise.resolve();
    return new Promise((resolve) => {
      aedes.publish({ cmd: 'publish', topic: statusTopic(binId), payload: Buffer.alloc(0), qos: 0, retain: true, dup: false }, () => resolve());
    });
  }

  /** Removes a device's secret and closes its sessions at once. */
  async revokeDevice(binId: string): Promise<{ revoked: boolean; disconnected: number }> {
    const open = this.sessions.count(binId);
    const revoked = await this.deps.secrets.revoke(binId); // once written, the change ends the sessions, synchronously
    return { revoked, disconnected: revoked ? open : 0 };
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.sessions.stop();
    // stop accepting first; a server's close completes only once its connections are gone, which closing aedes
    // (it disconnects every client) brings about — so aedes is closed before those completions are awaited
    const closed = this.servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
    this.wss?.close();
    if (this.aedes) await new Promise<void>((resolve) => this.aedes!.close(() => resolve()));
    await Promise.all(closed);
  }

  private async listen(server: net.Server, port: number, host: string): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.servers.push(server);
    return (server.address() as net.AddressInfo).port;
  }

  private handle(stream: Duplex, req?: IncomingMessage): void {
    if (!this.aedes || this.stopping) {
      stream.destroy();
      return;
    }
    // a PUBACK goes out when the reading is durable, not when the device's next segment brings an ACK (Nagle): a
    // battery device waits awake for it, and a gateway's connection carries the next reading meanwhile
    if (stream instanceof net.Socket) stream.setNoDelay(true);
    this.aedes.handle(stream as net.Socket, req);
    // with aedes reading through 'readable', a 'data' listener sees each chunk as aedes reads it
    const guard = createPacketSizeGuard(this.deps.config.max_packet_bytes, (declared) => {
      this.refused('oversize', { declared, max: this.deps.config.max_packet_bytes });
      stream.destroy();
    });
    stream.on('data', guard);
  }

  private preConnect(client: BinClient, packet: { will?: { topic: string } }, cb: (err: Error | null, ok: boolean) => void): void {
    client.willTopic = packet.will?.topic;
    this.connectLimit.admit(remoteAddress(client)).then(
      (admitted) => {
        if (admitted) return cb(null, true);
        this.refused('connect_rate', { ip: remoteAddress(client) });
        cb(new Error('connection rate exceeded'), false);
      },
      (err: Error) => cb(err, false),
    );
  }

  private async authenticate(
    client: BinClient,
    username: string | undefined,
    password: Buffer | undefined,
    cb: (err: (Error & { returnCode: number }) | null, ok: boolean | null) => void,
  ): Promise<void> {
    if (this.deps.config.auth === 'none') {
      client.principal = { kind: 'anonymous' };
      return this.checkWill(client, cb);
    }
    if (!username || !password) {
      this.refused('anonymous', { ip: remoteAddress(client) });
      return cb(refusal('not authorized: a device logs in with its bin id and secret', NOT_AUTHORIZED), null);
    }
    const ip = remoteAddress(client);
    const { secrets } = this.deps;
    const generation = this.sessions.generation;
    // a secret proven since start-up is answered from memory and gets in even while the bin is blocked
    let record = secrets.matchRemembered(username, password);
    if (!record) {
      if (await this.logins.binBlocked(username)) {
        this.refused('auth_blocked', { ip, bin: username });
        return cb(refusal('not authorized: too many failed logins for this bin, try later', NOT_AUTHORIZED), null);
      }
      try {
        // as much work for a bin without a secret as for a wrong secret: the answer's time tells nothing
        record = await secrets.match(username, password);
      } catch (err) {
        this.deps.log.error({ err }, 'device secret verification failed');
      }
    }
    if (!record) {
      // the same answer whether the bin exists or not [MQTT-3.2.2-3: 4 = bad user name or password]
      if (await this.logins.failed(ip, username)) {
        this.refused('auth_blocked', { ip, bin: username });
        return cb(refusal('not authorized: too many failed logins, try later', NOT_AUTHORIZED), null);
      }
      this.refused('bad_credentials', { ip, bin: username });
      return cb(refusal('bad user name or password', BAD_USERNAME_OR_PASSWORD), null);
    }
    // a device may not take over another device's session
    if (client.id !== username) {
      this.refused('client_id', { bin: username });
      return cb(refusal(`identifier rejected: the client id must be the bin id ${username}`, IDENTIFIER_REJECTED), null);
    }
    client.principal = { kind: 'device', binId: username };
    this.sessions.login(client, username, record, generation);
    this.connectLimit.loggedIn(ip, username);
    this.checkWill(client, cb);
  }

  private checkWill(client: BinClient, cb: (err: (Error & { returnCode: number }) | null, ok: boolean | null) => void): void {
    if (client.willTopic !== undefined) {
      const d = canPublish(client.principal!, client.willTopic);
      if (!d.allow) {
        this.refused(`will_${d.reason}`, { client: client.id, topic: client.willTopic });
        return cb(refusal(`not authorized: last will on ${client.willTopic}`, NOT_AUTHORIZED), null);
      }
    }
    cb(null, true);
  }

  private authorizePublish(client: BinClient | null, packet: PublishPacket, cb: (err?: Error | null) => void): void {
    const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
    // the will of a session gone before this broker started: its checks were made at CONNECT
    if (!client) {
      const topic = parseBinTopic(packet.topic);
      if (topic) this.limitRetain(packet, topic, payload, null);
      return cb(null);
    }
    const will = packet === client.will;
    if (!will) {
      // the packet-size guard has already closed this connection; what aedes parsed from the same chunk is void
      if (client.conn.destroyed) return cb(new Error('connection closed'));
      // [MQTT-2.3.1-1] a QoS 1 or 2 PUBLISH carries a non-zero packet identifier. MQTT 3.1.1 has no negative
      // PUBACK, so closing the connection is the refusal, here and below.
      if (packet.qos > 0 && packet.messageId === 0) {
        this.refused('packet_id_zero', { client: client.id });
        return cb(new Error('packet identifier 0'));
      }
    }
    if (payload.length + packet.topic.length > this.deps.config.max_packet_bytes) {
      this.refused('oversize', { client: client.id, bytes: payload.length });
      return cb(new Error('packet too large'));
    }
    // the session's principal is set at CONNECT, before its first PUBLISH: a topic's decision holds for the session
    let seen = client.lastTopic;
    if (seen?.topic !== packet.topic) {
      seen = { topic: packet.topic, decision: canPublish(client.principal ?? { kind: 'anonymous' }, packet.topic), parsed: parseBinTopic(packet.topic) };
      client.lastTopic = seen;
    }
    const d = seen.decision;
    if (!d.allow) {
      this.refused(d.reason, { client: client.id, topic: packet.topic.slice(0, 200) });
      return cb(new Error(`not authorized to publish to ${packet.topic}`));
    }
    const topic = seen.parsed!;
    // nothing more from a session whose secret was revoked or rotated, but its will's status: it is offline now
    if (!(will && topic.channel === STATUS) && (client.revoked || !this.sessions.current(client))) {
      this.endSession(client);
      return cb(new Error('the secret of this session was revoked'));
    }
    this.limitRetain(packet, topic, payload, client.id);
    if (topic.channel === STATUS) {
      this.recordStatus(topic.binId, payload);
      return cb(null);
    }
    if (packet.qos === 2 && !will) return this.recordQos2(client, packet.messageId!, topic.binId, payload, cb);
    // one promise step to the answer: this runs for every reading
    this.deps.ingest.acceptPayload(topic.binId, payload).then(
      (outcome) => cb(answer(outcome)),
      (err: Error) => cb(err),
    );
  }

  /** Clears the retain flag of what may not be kept (acl.ts canRetain); the message is still delivered. */
  private limitRetain(packet: PublishPacket, topic: BinTopic, payload: Buffer, clientId: string | null): void {
    if (!packet.retain) return;
    const d = canRetain(topic, payload, this.deps.isKnownBin(topic.binId));
    if (d.allow) return;
    packet.retain = false;
    this.refused(d.reason, { client: clientId, topic: packet.topic.slice(0, 200) });
  }

  /** A reading, durably recorded: resolves with its answer (see `answer`). */
  private recordReading(binId: string, payload: Buffer): Promise<Error | null> {
    return this.deps.ingest.acceptPayload(binId, payload).then(answer, (err: Error) => err);
  }

  /**
   * A QoS 2 reading is recorded once, however often it arrives before PUBREL. aedes asks authorizePublish about
   * every copy, and answers a re-send (the same packet id [MQTT-4.3.3-2]) with a bare PUBREC only once its store
   * holds the first copy — which also spans a resumed session. Until then, while the reading is being recorded,
   * this session's map gives a re-send the first copy's answer, so neither is acknowledged before the reading is
   * recorded. aedes (with the in-memory persistence binbridge uses) stores the packet in promise callbacks
   * straight after the answer; no I/O callback, so no new packet of this connection, runs in between, and its
   * store takes over without a gap.
   */
  private recordQos2(client: BinClient, messageId: number, binId: string, payload: Buffer, cb: (err?: Error | null) => void): void {
    const inflight = (client.qos2 ??= new Map());
    const first = inflight.get(messageId);
    if (first) {
      void first.then(cb);
      return;
    }
    // aedes' persistence (the in-memory default) is a documented option, absent from its type declarations
    const { persistence } = this.aedes as unknown as { persistence: { incomingGetPacket: (c: Client, p: { messageId: number }) => Promise<unknown> } };
    const answer = persistence.incomingGetPacket(client, { messageId }).then(
      () => null, // a re-send of a reading recorded before
      () => this.recordReading(binId, payload),
    );
    inflight.set(messageId, answer);
    void answer.then((err) => {
      inflight.delete(messageId);
      cb(err);
    });
  }

  private recordStatus(binId: string, payload: Buffer): void {
    if (this.stopping || !this.deps.isKnownBin(binId)) return;
    const status = parseStatus(payload);
    if (status) this.deps.binState.setStatus(binId, status);
  }

  private endSession(client: BinClient): void {
    if (client.revoked) return;
    client.revoked = true;
    this.refused('revoked', { client: client.id });
    client.close();
  }

  private authorizeSubscribe(client: BinClient, sub: Subscription, cb: (err: Error | null, sub?: Subscription | null) => void): void {
    const d = canSubscribe(client.principal ?? { kind: 'anonymous' }, sub.topic);
    if (d.allow) return cb(null, sub);
    this.refused(`subscribe_${d.reason}`, { client: client.id, topic: sub.topic.slice(0, 200) });
    cb(null, null); // SUBACK 0x80 for this filter [MQTT-3.9.3-2]
  }

  private refused(reason: string, fields: Record<string, unknown>): void {
    this.deps.metrics.mqttRefused.inc({ reason });
    const suppressed = this.throttle.admit(`${reason}|${String(fields.ip ?? fields.client ?? fields.bin ?? '')}`);
    if (suppressed !== null) this.deps.log.warn({ reason, ...fields, suppressedSinceLast: suppressed }, 'mqtt refused');
  }

  private debugOnce(client: Client | null, err: Error): void {
    if (this.throttle.admit(`err|${client?.id ?? ''}|${err.message}`) !== null) {
      this.deps.log.debug({ client: client?.id, err: err.message }, 'mqtt client error');
    }
  }
}

export type { AedesPublishPacket };
