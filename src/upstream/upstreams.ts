import type { Clock } from '../clock.js';
import type { UpstreamConfig } from '../config/index.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { readInstanceId, upstreamClientId } from './client-id.js';
import { UpstreamClient } from './upstream-client.js';
import { createUplinkHandler, type UplinkHandlerDeps } from './uplink-handler.js';

export interface UpstreamsDeps {
  upstreams: readonly UpstreamConfig[];
  /** where this instance keeps its id (part of the default client ids) */
  dataDir: string;
  ingest: UplinkHandlerDeps['ingest'];
  findBin: UplinkHandlerDeps['findBin'];
  metrics: Metrics;
  log: Logger;
  clock?: Clock;
}

/** Every `mqtt.upstreams` item as a client of its broker. Connecting happens in the background: a broker that is down delays nothing. */
export class Upstreams {
  private readonly clients: UpstreamClient[] = [];

  constructor(private readonly deps: UpstreamsDeps) {}

  start(): void {
    const { upstreams, dataDir, ingest, findBin, metrics, log, clock } = this.deps;
    if (upstreams.length === 0) return;
    const instanceId = readInstanceId(dataDir);
    for (const u of upstreams) {
      const client = new UpstreamClient({
        url: u.url,
        username: u.username,
        password: u.password,
        clientId: upstreamClientId(u, instanceId),
        topics: u.topics,
        sharedGroup: u.shared_group,
        handle: createUplinkHandler({ format: u.format, fields: u.fields, ingest, findBin }),
        metrics,
        log,
        clock,
      });
      this.clients.push(client);
      log.info({ url: client.url, format: u.format, topics: u.topics, sharedGroup: u.shared_group || undefined }, 'upstream starting');
      client.start();
    }
  }

  /** Each client's URL (without credentials) and whether it is connected. */
  status(): { url: string; connected: boolean }[] {
    return this.clients.map((c) => ({ url: c.url, connected: c.connected }));
  }

  async stop(): Promise<void> {
    await Promise.all(this.clients.map((c) => c.stop()));
  }
}
