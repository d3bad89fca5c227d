import type { IClientOptions } from 'mqtt';

type Server = NonNullable<IClientOptions['servers']>[number];

const DEFAULT_PORTS: Record<string, number> = { mqtt: 1883, tcp: 1883, mqtts: 8883, ssl: 8883, ws: 80, wss: 443 };
// MQTT.js knows `tls` as a protocol but its `servers` type does not list it: the same TLS stream as mqtts
const PROTOCOLS: Record<string, Server['protocol']> = { mqtt: 'mqtt', tcp: 'tcp', mqtts: 'mqtts', ssl: 'ssl', tls: 'mqtts', ws: 'ws', wss: 'wss' };

/**
 * The broker URLs as MQTT.js `servers`: each connection attempt of a client goes to the next one in turn, so a
 * device whose broker died reconnects to the next. The path and the query (ws://host/mqtt) are not per server in
 * MQTT.js: the first URL's apply to all (the options refuse WebSocket URLs that differ in them).
 */
export function mqttServers(urls: readonly string[]): Server[] {
  return urls.map((text) => {
    const url = new URL(text);
    const scheme = url.protocol.replace(/:$/, '');
    // URL keeps an IPv6 address in brackets, which a socket does not take
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    return { host, port: url.port === '' ? (DEFAULT_PORTS[scheme] ?? 1883) : Number(url.port), protocol: PROTOCOLS[scheme] ?? 'mqtt' };
  });
}

/**
 * The brokers of the `index`-th device, starting at a different one for each device: the devices spread over the
 * brokers as they would over the instances behind a load balancer, and each tries the others in order after its own.
 */
export function brokersOf(index: number, urls: readonly string[]): string[] {
  const start = index % urls.length;
  return [...urls.slice(start), ...urls.slice(0, start)];
}
