import { parseArgs } from 'node:util';
import { z } from 'zod';
import type { FaultRates } from './bin-model.js';
import type { NetworkOptions } from './lorawan.js';

/** node:util parseArgs configuration; every value arrives as a string and is validated by `simOptionsSchema`. */
export const simArgOptions = {
  bins: { type: 'string' },
  'bins-file': { type: 'string' },
  url: { type: 'string', multiple: true },
  credentials: { type: 'string' },
  'no-auth': { type: 'boolean' },
  interval: { type: 'string' },
  speed: { type: 'string' },
  duration: { type: 'string' },
  qos: { type: 'string' },
  seed: { type: 'string' },
  'fault-stuck': { type: 'string' },
  'fault-tilt': { type: 'string' },
  'fault-fire': { type: 'string' },
  'fault-silent': { type: 'string' },
  'connect-rate': { type: 'string' },
  'start-time': { type: 'string' },
  stamps: { type: 'string' },
  quiet: { type: 'boolean' },
  format: { type: 'string' },
  username: { type: 'string' },
  password: { type: 'string' },
  app: { type: 'string' },
  tenant: { type: 'string' },
  provision: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const SIM_HELP = `firmware-sim: simulated smart-bin sensors publishing to binbridge over MQTT

Usage: npm run sim -- [options]

  --bins N              simulate the first N bins of the bins file (default: all)
  --bins-file PATH      bins CSV or GeoJSON (default: config/bins.example.csv)
  --url URL[,URL...]    broker URL: mqtt://host:port, mqtts://, ws://host:port/mqtt, wss://
                        (default: mqtt://127.0.0.1:1883). Several brokers (comma-separated or --url
                        repeated): the devices spread over them, and a device whose broker goes away
                        reconnects to the next (binbridge instances on one PostgreSQL store)
  --credentials PATH    device secrets, JSON { "<binId>": "<secret>" } (default: data/device-secrets.json);
                        make it with: npm run devices -- provision --all --out data/device-secrets.json
  --no-auth             connect without username and password (broker with mqtt.auth: none)
  --interval DURATION   simulated time between two readings of one bin (default: 10s)
  --speed X             simulated seconds per real second (default: 60); a bin publishes every
                        interval/speed of real time, at least every 20ms
  --duration DURATION   stop after this much real time (default: run until Ctrl-C)
  --qos 0|1             telemetry QoS (default: 1)
  --seed N              seed of the simulation; the same seed gives the same series (default: 1)
  --fault-stuck RATE    stuck-sensor faults per simulated day per bin (default: 0.01)
  --fault-tilt RATE     tilted-bin faults per simulated day per bin (default: 0.005)
  --fault-fire RATE     fires per simulated day per bin (default: 0.0005)
  --fault-silent RATE   silent devices (connection dropped, last will sent) per day per bin (default: 0.01)
  --connect-rate N      new connections per second at start (default: 50)
  --start-time ISO      simulated clock at start, e.g. 2026-11-25T06:00:00Z (default: now at speed 1;
                        faster, far enough back that the run replays history and then goes live,
                        since the simulated clock never runs ahead of the real one)
  --stamps simulated|real
                        simulated (default): readings carry the simulated clock's time (a fast run replays
                        history, see --start-time); real: readings carry the real time while the bins fill
                        --speed times faster, so whatever shows them (the live page, npm run demo) shows now
  --quiet               no progress line and no per-device notices; warnings and the summary only
  --provision           before connecting, give every bin of binbridge's registry that has no secret one, into
                        --credentials (binbridge devices provision --all --out PATH; bins that have a secret
                        keep it). npm run sim passes it; ignored with --no-auth, ttn and chirpstack
  --format FORMAT       native (default): each bin publishes JSON to bins/{id}/telemetry, as a device of
                        binbridge's own broker; ttn: The Things Stack v3 uplinks on
                        v3/{app}@{tenant}/devices/{device id}/up; chirpstack: ChirpStack v4 events on
                        application/{app uuid}/device/{DevEUI}/event/up. Device ids and DevEUIs come from the
                        bins file's device_id and dev_eui columns, or from the bin id (DevEUI: a hash of it).
                        ttn and chirpstack publish to any broker binbridge reads as an upstream (mqtt.upstreams)
  --username NAME       with ttn/chirpstack: broker login (device secrets are not used)
  --password SECRET     with ttn/chirpstack: broker password
  --app NAME            with ttn/chirpstack: application id / name (default: binbridge-sim)
  --tenant ID           with ttn: tenant in the topic (default: ttn; "" for The Things Stack Open Source)
  -h, --help            show this text

Durations: 500ms, 10s, 2m, 1h, 1d, or combined like 1h30m.`;

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses `500ms`, `10s`, `2m`, `1h`, `1d` or combinations such as `1h30m`; throws on anything else. */
export function parseDuration(text: string): number {
  const trimmed = text.trim();
  const part = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/y;
  let total = 0;
  let index = 0;
  while (index < trimmed.length) {
    part.lastIndex = index;
    const match = part.exec(trimmed);
    if (!match) break;
    total += Number(match[1]) * (DURATION_UNITS[match[2] ?? ''] ?? Number.NaN);
    index = part.lastIndex;
  }
  if (trimmed.length === 0 || index !== trimmed.length || !Number.isFinite(total)) {
    throw new Error(`expected a duration like 500ms, 10s, 2m, 1h or 1h30m, got "${text}"`);
  }
  return total;
}

const duration = z.string().transform((text, ctx) => {
  try {
    const ms = parseDuration(text);
    if (ms > 0) return ms;
    ctx.issues.push({ code: 'custom', message: `must be longer than 0, got "${text}"`, input: text });
  } catch (err) {
    ctx.issues.push({ code: 'custom', message: (err as Error).message, input: text });
  }
  return z.NEVER;
});

function numberText(what: 'integer' | 'number', check: (n: number) => boolean, expectation: string) {
  return z.string().transform((text, ctx) => {
    const n = text.trim() === '' ? Number.NaN : Number(text);
    if (Number.isFinite(n) && (what === 'number' || Number.isInteger(n)) && check(n)) return n;
    ctx.issues.push({ code: 'custom', message: `expected ${expectation}, got "${text}"`, input: text });
    return z.NEVER;
  });
}

const faultRate = numberText('number', (n) => n >= 0, 'a rate per simulated day of 0 or more');
const BROKER_PROTOCOLS = ['mqtt:', 'mqtts:', 'tcp:', 'ssl:', 'tls:', 'ws:', 'wss:'];

export const simOptionsSchema = z
  .object({
    bins: numberText('integer', (n) => n > 0, 'a whole number of bins greater than 0').optional(),
    'bins-file': z.string().min(1, 'expected a file path').default('config/bins.example.csv'),
    url: z
      .union([z.string(), z.array(z.string())])
      .default(['mqtt://127.0.0.1:1883'])
      .transform((given, ctx) => {
        const urls = [given].flat().flatMap((text) => text.split(',').map((u) => u.trim()));
        for (const text of urls) {
          if (!(URL.canParse(text) && BROKER_PROTOCOLS.includes(new URL(text).protocol))) {
            ctx.issues.push({ code: 'custom', message: `expected a broker URL such as mqtt://127.0.0.1:1883 or ws://host:3000/mqtt, got "${text}"`, input: text });
            return z.NEVER;
          }
          if (urls.indexOf(text) !== urls.lastIndexOf(text)) {
            ctx.issues.push({ code: 'custom', message: `${text} is named twice`, input: text });
            return z.NEVER;
          }
        }
        // MQTT.js takes host, port and protocol per server, but one path for all: the first URL's
        const paths = [...new Set(urls.map((u) => new URL(u)).filter((u) => u.protocol.startsWith('ws')).map((u) => `${u.pathname}${u.search}`))];
        if (paths.length > 1) {
          ctx.issues.push({ code: 'custom', message: `WebSocket brokers must share one path (MQTT.js uses the first URL's for all), got ${paths.join(' and ')}`, input: given });
          return z.NEVER;
        }
        return urls;
      }),
    credentials: z.string().min(1, 'expected a file path').default('data/device-secrets.json'),
    'no-auth': z.boolean().default(false),
    interval: duration.default(10_000),
    speed: numberText('number', (n) => n > 0, 'a speed greater than 0 (simulated seconds per real second)').default(60),
    duration: duration.optional(),
    qos: z.enum(['0', '1'], { error: (issue) => `expected 0 or 1, got "${String(issue.input)}"` }).default('1'),
    seed: numberText('integer', () => true, 'a whole number').default(1),
    'fault-stuck': faultRate.default(0.01),
    'fault-tilt': faultRate.default(0.005),
    'fault-fire': faultRate.default(0.0005),
    'fault-silent': faultRate.default(0.01),
    'connect-rate': numberText('number', (n) => n > 0, 'connections per second greater than 0').default(50),
    'start-time': z
      .string()
      .transform((text, ctx) => {
        const ms = /^\d{4}-\d{2}-\d{2}/.test(text) ? Date.parse(text) : Number.NaN;
        if (Number.isFinite(ms)) return ms;
        ctx.issues.push({ code: 'custom', message: `expected an ISO date-time such as 2026-11-25T06:00:00Z, got "${text}"`, input: text });
        return z.NEVER;
      })
      .optional(),
    stamps: z.enum(['simulated', 'real'], { error: (issue) => `expected simulated or real, got "${String(issue.input)}"` }).default('simulated'),
    quiet: z.boolean().default(false),
    format: z.enum(['native', 'ttn', 'chirpstack'], { error: (issue) => `expected native, ttn or chirpstack, got "${String(issue.input)}"` }).default('native'),
    username: z.string().optional(),
    password: z.string().optional(),
    app: z.string().regex(/^[a-z0-9](?:-?[a-z0-9])*$/, 'expected lower-case letters, digits and single dashes').default('binbridge-sim'),
    tenant: z.string().regex(/^[a-z0-9-]*$/, 'expected lower-case letters, digits and dashes').default('ttn'),
    provision: z.boolean().default(false),
    help: z.boolean().default(false),
  })
  .strict();

export interface SimOptions {
  /** first N bins of the file; undefined = all */
  bins: number | undefined;
  binsFile: string;
  /** the brokers, in the order given: at least one */
  urls: string[];
  credentials: string;
  noAuth: boolean;
  intervalMs: number;
  speed: number;
  /** real time to run; undefined = until stopped */
  durationMs: number | undefined;
  qos: 0 | 1;
  seed: number;
  faultRates: FaultRates;
  connectRate: number;
  /** simulated clock at start; undefined = now */
  startTimeMs: number | undefined;
  /** which time readings carry: the simulated clock's, or the real one (the bins still fill `speed` times faster) */
  stamps: 'simulated' | 'real';
  quiet: boolean;
  /** publish as a LoRaWAN network server (TTN, ChirpStack); undefined: native devices */
  network: NetworkOptions | undefined;
  /** provision device secrets into `credentials` before connecting (when the devices log in) */
  provision: boolean;
  help: boolean;
}

export class OptionsError extends Error {
  override readonly name = 'OptionsError';
}

/** Validates the values returned by parseArgs({ options: simArgOptions }); throws OptionsError naming each bad option. */
export function parseSimOptions(values: Record<string, string | string[] | boolean | undefined>): SimOptions {
  const result = simOptionsSchema.safeParse(values);
  if (!result.success) {
    const lines = result.error.issues.map((issue) => {
      const option = issue.path.length > 0 ? `--${issue.path.join('.')}` : 'options';
      const message = issue.code === 'unrecognized_keys' ? `unknown option(s) ${issue.keys.map((k) => `--${k}`).join(', ')}` : issue.message;
      return `${option}: ${message}`;
    });
    throw new OptionsError(lines.join('\n'));
  }
  const v = result.data;
  return {
    bins: v.bins,
    binsFile: v['bins-file'],
    urls: v.url,
    credentials: v.credentials,
    noAuth: v['no-auth'],
    intervalMs: v.interval,
    speed: v.speed,
    durationMs: v.duration,
    qos: v.qos === '0' ? 0 : 1,
    seed: v.seed,
    faultRates: { stuck: v['fault-stuck'], tilt: v['fault-tilt'], fire: v['fault-fire'], silent: v['fault-silent'] },
    connectRate: v['connect-rate'],
    startTimeMs: v['start-time'],
    stamps: v.stamps,
    quiet: v.quiet,
    network: v.format === 'native' ? undefined : { format: v.format, app: v.app, tenant: v.tenant, username: v.username, password: v.password },
    provision: v.provision,
    help: v.help,
  };
}

const FLAGS = Object.keys(simArgOptions);

/** Edits between two words (insert, delete, replace), for "did you mean". */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length]!;
}

/** The command line to options: an unknown flag, a missing value or a stray argument is an OptionsError saying which. */
export function readSimOptions(argv: string[]): SimOptions {
  try {
    parseArgs({ args: argv, options: simArgOptions, strict: true, allowPositionals: false });
  } catch (err) {
    const e = err as Error & { code?: string };
    const flag = /'(-[^' ]+)/.exec(e.message)?.[1] ?? '';
    if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      const word = flag.replace(/^-+/, '');
      const near = FLAGS.map((f) => ({ f, d: distance(word, f) })).sort((a, b) => a.d - b.d)[0];
      throw new OptionsError(`unknown option ${flag}${near && near.d <= Math.max(1, Math.floor(word.length / 3)) ? `; did you mean --${near.f}?` : ''}`);
    }
    if (e.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') throw new OptionsError(`unexpected argument ${/'([^']*)'/.exec(e.message)?.[1] ?? ''}`);
    if (e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      const name = /'(--[a-z-]+)/.exec(e.message)?.[1] ?? 'option';
      throw new OptionsError(/does not take an argument/.test(e.message) ? `${name}: takes no value` : `${name}: a value is missing`);
    }
    throw new OptionsError(e.message);
  }
  const { values } = parseArgs({ args: argv, options: simArgOptions, strict: true, allowPositionals: false });
  return parseSimOptions(values);
}
