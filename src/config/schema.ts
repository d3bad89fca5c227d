import { z } from 'zod';
import { didYouMean } from '../suggest.js';

// The shape of config/binbridge.yaml (SPEC.md "Configuration"). Key names are part of the contract:
// add keys freely, rename none. Every scalar can be overridden by BINBRIDGE_<PATH> (see load.ts).
// Objects are strict at every level: a misspelt key is an error (with a "did you mean"), never a silent default.

const port = z.number().int().min(0).max(65535);
const optionalPort = z.number().int().min(-1).max(65535); // -1: listener off
const hhmm = /^([01]\d|2[0-4]):[0-5]\d$/;

const rules = z.strictObject({
  full_pct: z.number().min(1).max(100).default(85),
  clear_pct: z.number().min(0).max(99).default(30),
  debounce: z.number().int().min(1).max(20).default(2),
  fire_c: z.number().min(30).max(200).default(60),
  battery_low_pct: z.number().min(0).max(100).default(15),
  offline_after_s: z.number().int().min(60).default(7200),
  forecast_horizon_h: z.number().min(0).max(168).default(6),
});

// zones and crews also arrive through the admin API: every string is bounded (ids 64, names 200)
export const zoneSchema = z.strictObject({
  id: z.string().min(1).max(64),
  name: z.string().min(1).max(200),
  rules: rules.partial().optional(),
});

export const crewSchema = z.strictObject({
  id: z.string().min(1).max(64),
  name: z.string().min(1).max(200),
  phone: z.string().regex(/^\d{6,15}$/, 'digits only, with country code'),
  zones: z.array(z.string().min(1).max(64)).min(1).max(1000),
  shift: z
    .string()
    .max(11)
    .refine((s) => {
      const [a, b] = s.split('-');
      return a !== undefined && b !== undefined && hhmm.test(a) && hhmm.test(b);
    }, 'HH:MM-HH:MM'),
  lang: z.string().min(2).max(16).default('en'),
});

const upstream = z.strictObject({
  url: z.string().regex(/^(mqtts?|wss?):\/\//, 'an mqtt://, mqtts://, ws:// or wss:// URL'),
  username: z.string().default(''),
  password: z.string().default(''),
  format: z.enum(['native', 'ttn', 'chirpstack']).default('native'),
  topics: z.array(z.string().min(1)).min(1),
  shared_group: z.string().default(''),
  // fixed MQTT client id of the persistent session; empty: binbridge-<hash of url, group and this instance's data dir id>
  client_id: z.string().default(''),
  // decoded-payload field names of sensors whose names binbridge does not know (a dotted name reaches into objects)
  fields: z
    .strictObject({
      fill_pct: z.string().min(1).optional(),
      distance_mm: z.string().min(1).optional(),
      battery_pct: z.string().min(1).optional(),
      battery_v: z.string().min(1).optional(),
      temperature_c: z.string().min(1).optional(),
      tilt: z.string().min(1).optional(),
    })
    .default({}),
});

export const configSchema = z.strictObject({
  data_dir: z.string().min(1).default('./data'),
  log_level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'),
  // auto: readable lines on a terminal, JSON lines otherwise
  log_format: z.enum(['auto', 'json', 'pretty']).default('auto'),
  store: z
    .strictObject({
      // empty: all state in SQLite under data_dir; postgres://user:password@host:port/database: in PostgreSQL, shared
      // by several instances (binbridge migrates the database at start)
      url: z.string().regex(/^(postgres(ql)?:\/\/[^\s/]+\/?\S*)?$/, 'a postgres:// URL, or nothing for SQLite under data_dir').default(''),
    })
    .prefault({}),
  mqtt: z
    .strictObject({
      port: optionalPort.default(1883),
      host: z.string().default('0.0.0.0'),
      auth: z.enum(['devices', 'none']).default('devices'),
      max_packet_bytes: z.number().int().min(256).max(1_048_576).default(8192),
      // connection attempts per second from one address (a login with a valid device secret gives its attempt back),
      // and failed logins per minute per address and username
      connect_rate_per_ip: z.number().int().min(1).default(200),
      auth_failures_per_min: z.number().int().min(1).default(10),
      // addresses with failed logins for one bin within a minute before that bin is blocked for a minute
      auth_block_addresses: z.number().int().min(2).default(5),
      // the key of the device secrets' HMAC records; empty: generated into data_dir/device-secrets.key. Instances on
      // one PostgreSQL store need one key: set it here on each (or copy the file)
      device_secrets_key: z.string().default(''),
      tls: z
        .strictObject({ port: optionalPort.default(8883), cert: z.string().default(''), key: z.string().default('') })
        .prefault({}),
      // MQTT over WebSocket rides on the HTTP listener at this path
      ws_path: z.string().startsWith('/').default('/mqtt'),
      upstreams: z.array(upstream).default([]),
    })
    .prefault({}),
  http: z
    .strictObject({
      port: port.default(3000),
      host: z.string().default('0.0.0.0'),
      // empty: a token generated into <data_dir>/api.token, which requests from this machine may go without
      api_token: z.string().default(''),
      // the reverse proxies whose X-Forwarded-For names the client (addresses, CIDRs or loopback/linklocal/uniquelocal,
      // comma-separated); empty: none, and a forwarded request from this machine does not count as this machine's
      trust_proxy: z.string().default(''),
      // a connection that sends and receives nothing this long is closed (the live page's event stream and MQTT
      // over WebSocket are exempt: they have heartbeats of their own)
      connection_timeout_ms: z.number().int().min(100).default(30_000),
      // an idle keep-alive connection is closed this long after its last response
      keep_alive_timeout_ms: z.number().int().min(100).default(5_000),
      // a request's headers, and the whole request with its body, must arrive within these times (408 and closed)
      headers_timeout_ms: z.number().int().min(100).default(10_000),
      request_timeout_ms: z.number().int().min(100).default(60_000),
      // how often Node looks for requests past those two timeouts (it checks on this beat, not on each byte)
      connections_check_interval_ms: z.number().int().min(50).max(30_000).default(1_000),
      // connections at most on the HTTP listener (MQTT over WebSocket included), and per address (an IPv6 /64);
      // beyond: closed at once. Kept well below the open-files limit so the MQTT listeners always get descriptors;
      // at most half the process's limit is used whatever is set here. 0 per address: no per-address cap
      max_connections: z.number().int().min(1).default(4096),
      max_connections_per_ip: z.number().int().min(0).default(128),
    })
    .refine((h) => h.headers_timeout_ms <= h.request_timeout_ms, { message: 'headers_timeout_ms may not exceed request_timeout_ms', path: ['headers_timeout_ms'] })
    .prefault({}),
  registry: z
    .strictObject({
      bins_file: z.string().default('config/bins.example.csv'),
      // the kinds a bin may have; a bin of another kind is refused at import
      kinds: z.array(z.string().trim().min(1)).min(1).default(['rest', 'paper', 'glass', 'plastic', 'organic', 'textile']),
    })
    .prefault({}),
  ingest: z
    .strictObject({
      // how far ahead of the bridge's clock a reading's ts may be before it is refused
      max_future_s: z.number().int().min(0).default(300),
      // at most one log line per device and reason in this many seconds (counts are always kept)
      reject_log_interval_s: z.number().int().min(1).default(60),
    })
    .prefault({}),
  spool: z
    .strictObject({
      // durable queue between ingest and InfluxDB; when full, QoS 1 readings are not acknowledged
      max_mb: z.number().positive().default(1024),
      // group commit: at most this many readings per transaction; a commit waits until commit_delay_ms after the last
      // one ended (readings that come meanwhile share it and its fsync; one that finds the journal idle does not wait),
      // or until commit_group_target readings wait, whichever comes first (0: no target)
      commit_max_batch: z.number().int().min(1).default(2000),
      commit_delay_ms: z.number().min(0).max(100).default(7),
      commit_group_target: z.number().int().min(0).default(96),
      // "full": fsync on every commit (survives power loss); "normal": survives a process crash only
      sync: z.enum(['full', 'normal']).default('full'),
      // "worker": the group commit, the spool and the InfluxDB writer run in a worker thread beside the MQTT event loop
      journal: z.enum(['inline', 'worker']).default('worker'),
    })
    .prefault({}),
  influx: z
    .strictObject({
      url: z.union([z.literal(''), z.url({ protocol: /^https?$/ })]).default(''),
      api: z.enum(['v2', 'v1']).default('v2'),
      org: z.string().default('binbridge'),
      bucket: z.string().default('binbridge'),
      token: z.string().default(''),
      db: z.string().default('binbridge'),
      rp: z.string().default(''),
      username: z.string().default(''), // v1 basic auth
      password: z.string().default(''),
      batch_size: z.number().int().min(1).max(100_000).default(5000),
      flush_interval_ms: z.number().int().min(10).default(1000),
      timeout_ms: z.number().int().min(100).default(10_000),
      gzip: z.boolean().default(true),
      // bin_state points (for Grafana's map) at most this often per bin
      state_interval_s: z.number().int().min(0).default(60),
    })
    .prefault({}),
  rules: rules.prefault({}),
  // empty: the zones are the ones the bins file names; else a bin in another zone is refused at import
  zones: z.array(zoneSchema).default([]),
  crews: z.array(crewSchema).default([]),
  dispatch: z
    .strictObject({
      // false on every instance but one when several binbridge instances share an upstream feed
      enabled: z.boolean().default(true),
      batch_window_s: z.number().int().min(0).default(300),
      max_bins_per_job: z.number().int().min(1).max(100).default(40),
      // local times at which each zone's job is planned from the forecast; [] sends each alert's bins after the batch window
      rounds: z
        .array(z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'HH:MM'))
        .max(48)
        .default(['06:00', '12:00', '17:00', '22:00']),
      // litres of bin capacity a truck carries: bins riding along fill what the due bins leave of it
      truck_l: z.number().int().min(1).default(20_000),
      // how far from a due bin (straight line) a bin that will soon be full may ride along
      ride_along_m: z.number().min(0).max(50_000).default(600),
      escalate_after_s: z.number().int().min(0).default(1800),
      supervisor_phone: z.union([z.literal(''), z.string().regex(/^\d{6,15}$/, 'digits only')]).default(''),
    })
    .prefault({}),
  whatsapp: z
    .strictObject({
      mode: z.enum(['sandbox', 'cloud']).default('sandbox'),
      graph_url: z.url().default('https://graph.facebook.com'),
      api_version: z.string().regex(/^v\d+\.\d+$/, 'like v23.0').default('v23.0'),
      phone_number_id: z.string().default(''),
      access_token: z.string().default(''),
      app_secret: z.string().default(''),
      verify_token: z.string().default(''),
      // Meta's limits: messages per second per business number, and about one message per 6 s per recipient
      mps: z.number().int().min(1).max(1000).default(80),
      pair_interval_ms: z.number().int().min(0).default(6000),
      // Meta's messaging limit: unique users messaged outside their 24-hour window in any moving 24 h (the tier of
      // the business portfolio); an environment variable gives it as text, hence the preprocess
      messaging_limit: z
        .preprocess(
          (v) => (typeof v === 'string' && /^\d+$/.test(v.trim()) ? Number(v) : v),
          z.union([z.literal(250), z.literal(2000), z.literal(10000), z.literal(100000), z.literal('unlimited')], {
            error: 'one of Meta\'s tiers: 250, 2000, 10000, 100000 or "unlimited"',
          }),
        )
        .default(250),
      templates: z
        .strictObject({
          dispatch: z
            .strictObject({ name: z.string().default('bin_dispatch'), lang: z.string().default('en') })
            .prefault({}),
          // residents' updates outside the 24-hour window (the thank-you when their bin was emptied)
          resident: z
            .strictObject({ name: z.string().default('bin_report_update'), lang: z.string().default('en') })
            .prefault({}),
          // notices to subscribed residents outside the 24-hour window; body `{{1}}: {{2}}` (title, text)
          notice: z.strictObject({ name: z.string().default('bin_notice'), lang: z.string().default('en') }).prefault({}),
        })
        .prefault({}),
    })
    .prefault({}),
  reports: z
    .strictObject({
      snap_radius_m: z.number().min(1).max(1000).default(50),
      retention_days: z.number().int().min(1).default(180),
      pseudonym_key: z.string().default(''),
      max_photo_mb: z.number().positive().max(100).default(5),
    })
    .prefault({}),
  notices: z
    .strictObject({
      // service notices wait through these local hours (config timezone); emergencies do not. Equal ends: none
      quiet_hours: z.string().regex(/^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-4]):[0-5]\d$/, 'quiet hours as "HH:MM-HH:MM", local time, e.g. "21:00-08:00"').default('21:00-08:00'),
      // service notices a resident gets in any moving 7 days; one more is skipped for them (counted `capped`)
      max_per_resident_per_week: z.number().int().min(0).max(1000).default(3),
    })
    .prefault({}),
  open311: z
    .strictObject({
      // keys that may POST service requests; GETs are public
      api_keys: z.array(z.string().min(8)).default([]),
      agency: z.string().default('City waste services'),
    })
    .prefault({}),
  timezone: z.string().default('Europe/Amsterdam'),
}).superRefine((c, ctx) => {
  // with zones configured, a crew serving another zone is a typo that would leave bins without a crew
  if (c.zones.length === 0) return;
  const ids = c.zones.map((z) => z.id);
  c.crews.forEach((crew, i) =>
    crew.zones.forEach((zone, j) => {
      if (!ids.includes(zone)) ctx.addIssue({ code: 'custom', path: ['crews', i, 'zones', j], message: `unknown zone ${JSON.stringify(zone)}${didYouMean(zone, ids, 'zones')}`, params: { plain: true } });
    }),
  );
});

export type Config = z.infer<typeof configSchema>;
export type RulesConfig = z.infer<typeof rules>;
export type UpstreamConfig = z.infer<typeof upstream>;
export type Zone = z.infer<typeof zoneSchema>;
export type Crew = z.infer<typeof crewSchema>;
