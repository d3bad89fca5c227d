import mqtt, { type IClientOptions, type IPublishPacket, type ISubscriptionGrant, type MqttClient, type Packet } from 'mqtt';
import { realClock, type Clock, type Timer } from '../clock.js';
import { LogThrottle, type Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { retryDelay, type RetryPolicy } from '../retry.js';
import { redactUrl } from './client-id.js';
import type { UplinkHandler } from './uplink-handler.js';

export interface UpstreamClientOptions {
  url: string;
  username: string;
  password: string;
  clientId: string;
  topics: readonly string[];
  /** MQTT 5 shared subscription group; empty: plain subscriptions */
  sharedGroup: string;
  handle: UplinkHandler;
  metrics: Metrics;
  log: Logger;
  /** how long the broker keeps the session (and queues QoS 1 messages) while binbridge is away */
  sessionExpiryS?: number;
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  random?: () => number;
  clock?: Clock;
}

// A week: long enough for a weekend outage, short enough that a retired instance's session does not hold its
// share of a shared group for ever.
const SESSION_EXPIRY_S = 7 * 24 * 3600;
// CONNACK reason codes that mean "not this protocol version": 3.1.1's 1 and MQTT 5's 0x84 [MQTT-3.1.2-2]
const UNSUPPORTED_PROTOCOL = new Set([1, 0x84]);

/** `$share/{group}/{filter}` when a group is set. */
export function subscriptionFilter(topic: string, sharedGroup: string): string {
  return sharedGroup ? `$share/${sharedGroup}/${topic}` : topic;
}

/**
 * One external broker read as an MQTT client (MQTT.js): a persistent session under a fixed client id, QoS 1
 * subscriptions, and a PUBACK only once the reading is durably recorded. MQTT.js sends the PUBACK of a QoS 1
 * message when `handleMessage` calls back, and handles the next packet only after that, so messages are taken
 * one at a time in order. A reading that could not be recorded (spool full) is not acknowledged: the
 * connection is dropped after a growing pause and the broker sends it again on the resumed session.
 * Reconnects are made here (MQTT.js `reconnectPeriod: 0`) so that the pause can grow.
 */
export class UpstreamClient {
  private client: MqttClient | null = null;
  private protocolVersion: 4 | 5 = 5;
  /** failed connection attempts since the last CONNACK */
  private attempt = 0;
  /** unrecorded readings in a row: the pause before the broker is asked to send again */
  private retryStreak = 0;
  /** changes with every connection, so that a late verdict never acknowledges on another connection */
  private generation = 0;
  private reconnectTimer: Timer | undefined;
  private holdTimer: Timer | undefined;
  private stopping = false;
  private wasConnected = false;
  /** connected and subscribed: counted in binbridge_upstream_connected */
  private up = false;
  private readonly inflight = new Set<Promise<unknown>>();
  private readonly throttle = new LogThrottle(60_000);
  private readonly label: string;
  private readonly clock: Clock;
  /** half to all of the doubling delay: a broker that is back should not see every client at once */
  private readonly retry: RetryPolicy;

  constructor(private readonly opts: UpstreamClientOptions) {
    this.label = redactUrl(opts.url);
    this.clock = opts.clock ?? realClock;
    this.retry = { baseMs: opts.backoffInitialMs ?? 1000, maxMs: opts.backoffMaxMs ?? 60_000, jitter: 'equal' };
  }

  get url(): string {
    return this.label;
  }

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  start(): void {
    // several items may read one broker: the gauge counts this URL's connected clients
    this.opts.metrics.upstreamConnected.inc({ url: this.label }, 0);
    this.open();
  }

  /** Lets readings being recorded finish (and be acknowledged), then disconnects; the session stays on the broker. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.reconnectTimer?.clear();
    this.holdTimer?.clear();
    await this.within(3000, Promise.allSettled([...this.inflight]));
    const client = this.client;
    this.client = null;
    if (client && !(await this.within(2000, new Promise<void>((resolve) => client.end(false, {}, () => resolve()))))) client.end(true);
    this.setUp(false);
  }

  private open(): void {
    const v5 = this.protocolVersion === 5;
    const options: IClientOptions = {
      clientId: this.opts.clientId,
      protocolVersion: this.protocolVersion,
      // persistent session: QoS 1 messages published while binbridge is away wait on the broker
      clean: false,
      ...(v5 ? { properties: { sessionExpiryInterval: this.opts.sessionExpiryS ?? SESSION_EXPIRY_S } } : {}),
      ...(this.opts.username ? { username: this.opts.username } : {}),
      ...(this.opts.password ? { password: this.opts.password } : {}),
      reconnectPeriod: 0,
      connectTimeout: 10_000,
      keepalive: 30,
      resubscribe: false,
    };
    const client = mqtt.connect(this.opts.url, options);
    client.handleMessage = (packet: Packet, done: (err?: Error) => void) => this.onMessage(client, packet as IPublishPacket, done);
    client.on('connect', (connack) => this.onConnect(client, connack.sessionPresent));
    client.on('error', (err) => this.onError(client, err));
    client.on('close', () => this.onClose(client));
    this.client = client;
  }

  private onConnect(client: MqttClient, sessionPresent: boolean): void {
    if (client !== this.client) return;
    this.generation++;
    this.attempt = 0;
    this.wasConnected = true;
    const protocol = this.protocolVersion === 5 ? '5' : '3.1.1';
    this.opts.log.info({ url: this.label, clientId: this.opts.clientId, protocol, sessionPresent }, 'upstream connected');
    // subscribing again when the session is present is harmless and picks up topics added to the config;
    // retain handling 1: retained messages only for a subscription that did not exist yet
    const filters = this.opts.topics.map((t) => subscriptionFilter(t, this.opts.sharedGroup));
    client.subscribe(filters, this.protocolVersion === 5 ? { qos: 1, rh: 1 } : { qos: 1 }, (err, granted) => this.onSubscribed(client, err ?? null, granted ?? []));
  }

  private onSubscribed(client: MqttClient, err: Error | null, granted: ISubscriptionGrant[]): void {
    if (err) {
      this.opts.log.error({ url: this.label, err: err.message }, 'upstream subscribe failed');
      return;
    }
    let refused = 0;
    for (const g of granted) {
      if (g.qos >= 0x80) {
        refused++;
        this.opts.log.error({ url: this.label, topic: g.topic, code: g.qos }, 'upstream broker refused the subscription');
      } else if (g.qos === 0) {
        this.opts.log.warn({ url: this.label, topic: g.topic }, 'upstream broker granted QoS 0 only: messages published while binbridge is away are not kept');
      }
    }
    // "connected" for operations means: messages flow
    if (client === this.client && client.connected && refused < granted.length) this.setUp(true);
  }

  private onMessage(client: MqttClient, packet: IPublishPacket, done: (err?: Error) => void): void {
    // a message that arrives while stopping is left unacknowledged: the broker sends it again next time
    if (this.stopping) return;
    const generation = this.generation;
    const work = this.opts.handle(packet.topic, Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload)).catch((err: unknown) => {
      this.opts.log.error({ url: this.label, err }, 'upstream message handling failed');
      return 'retry' as const;
    });
    this.inflight.add(work);
    void work.then((verdict) => {
      this.inflight.delete(work);
      const current = client === this.client && generation === this.generation && client.connected;
      if (verdict === 'ack' || packet.qos === 0) {
        // QoS 0 (all The Things Stack offers) cannot be sent again: what was not recorded is lost, and counted
        if (verdict === 'ack') this.retryStreak = 0;
        // MQTT.js sends the PUBACK (QoS 1) and moves on to the next packet
        if (current) done();
      } else if (current) {
        this.holdBack(client);
      }
    });
  }

  /** Not recorded: no PUBACK. After a pause the connection is dropped so that the broker sends the message again. */
  private holdBack(client: MqttClient): void {
    const pauseMs = retryDelay(++this.retryStreak, this.retry, this.opts.random);
    if (this.throttle.admit('hold') !== null) {
      this.opts.log.warn({ url: this.label, pauseMs: Math.round(pauseMs) }, 'upstream reading not recorded; the broker will send it again after a reconnect');
    }
    this.holdTimer?.clear();
    this.holdTimer = this.clock.setTimeout(() => {
      if (client === this.client && !this.stopping) client.stream.destroy();
    }, pauseMs);
  }

  private setUp(up: boolean): void {
    if (up === this.up) return;
    this.up = up;
    if (up) this.opts.metrics.upstreamConnected.inc({ url: this.label });
    else this.opts.metrics.upstreamConnected.dec({ url: this.label });
  }

  private onError(client: MqttClient, err: Error): void {
    if (client !== this.client) return;
    const code = (err as Error & { code?: unknown }).code;
    if (this.protocolVersion === 5 && typeof code === 'number' && UNSUPPORTED_PROTOCOL.has(code)) {
      this.opts.log.warn({ url: this.label }, 'upstream broker refuses MQTT 5; using 3.1.1 (shared subscriptions only if the broker offers them there)');
      this.protocolVersion = 4;
      this.client = null;
      client.end(true);
      this.open();
      return;
    }
    if (this.throttle.admit(`error:${String(code)}:${err.message}`) !== null) {
      this.opts.log.warn({ url: this.label, code, error: err.message }, 'upstream connection error');
    }
  }

  private onClose(client: MqttClient): void {
    if (client !== this.client) return;
    this.generation++;
    this.holdTimer?.clear();
    this.setUp(false);
    if (this.stopping) return;
    if (this.wasConnected) {
      this.wasConnected = false;
      this.opts.log.warn({ url: this.label }, 'upstream disconnected; reconnecting');
    }
    if (this.reconnectTimer) return;
    const delay = retryDelay(++this.attempt, this.retry, this.opts.random);
    this.reconnectTimer = this.clock.setTimeout(() => {
      this.reconnectTimer = undefined;
      // the same client object: MQTT.js connects again with the same options and client id
      if (client === this.client && !this.stopping) client.connect();
    }, delay);
  }

  /** Resolves true when the promise settles within ms, false otherwise. */
  private async within(ms: number, promise: Promise<unknown>): Promise<boolean> {
    const gaveUp = new AbortController();
    const settled = promise.then(
      () => true,
      () => true,
    );
    const timeout = this.clock.sleep(ms, gaveUp.signal).then(
      () => false,
      () => false,
    );
    const result = await Promise.race([settled, timeout]);
    gaveUp.abort();
    return result;
  }
}
