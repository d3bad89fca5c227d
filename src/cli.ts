#!/usr/bin/env node
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import v8 from 'node:v8';
import { realClock } from './clock.js';
// the device-secret and API-token modules directly, not through their rooms' indexes: those load the broker and the
// HTTP server, which only `start` needs (it imports the app when it runs), so `devices` and `config` start quickly
import { SqliteDeviceSecrets, type DeviceSecrets } from './broker/device-secrets.js';
import { loadDeviceKey } from './broker/device-key.js';
import { ConfigError, envVariables, loadConfig, type Config } from './config/index.js';
import { createLogger } from './log.js';
// the registry's modules directly too: its index loads the PostgreSQL driver, which only a store.url needs
import { SqliteBinRegistry, type BinRegistry } from './registry/bin-registry.js';
import { BinsFileError, knownFromConfig, readBinsFile } from './registry/bins-file.js';
import { pageAddress } from './http/api-token.js';
import { StartError } from './start-error.js';
import { openDatabase } from './storage/database.js';
import { closest } from './suggest.js';
import { heapGrowthFlags } from './heap-growth.js';

const HELP = `binbridge — smart-bin telemetry bridge

usage:
  binbridge start [--config FILE]                 run the bridge (npm start)
  binbridge devices secret BIN_ID                 create or rotate a device's MQTT secret; prints it once
                                                  (a running bridge closes the session of the old one)
  binbridge devices provision [--all | BIN_ID...] [--rotate] [--out FILE]
                                                  issue secrets to bins that have none (a bin keeps its secret
                                                  unless --rotate) and add them to FILE (JSON {bin: secret},
                                                  mode 0600; entries that no longer verify are dropped)
  binbridge devices list                          bins with a secret, and when it was issued
  binbridge devices revoke BIN_ID                 remove a device's secret: it can no longer connect, and a
                                                  running bridge closes its session within a second
  binbridge config check [--config FILE]          validate the configuration and the bins file; print the
                                                  configuration (secrets hidden) and the number of bins
  binbridge config env                            list the BINBRIDGE_* variables that override config keys

The config file is --config FILE, else $BINBRIDGE_CONFIG, else config/binbridge.yaml (defaults when absent).`;

/** One usage line per command, shown with an error in how it was called. */
const USAGE: Record<string, string> = {
  start: 'binbridge start [--config FILE]',
  'devices secret': 'binbridge devices secret BIN_ID [--config FILE]',
  'devices provision': 'binbridge devices provision [--all | BIN_ID...] [--rotate] [--out FILE] [--config FILE]',
  'devices list': 'binbridge devices list [--config FILE]',
  'devices revoke': 'binbridge devices revoke BIN_ID [--config FILE]',
  'config check': 'binbridge config check [--config FILE]',
  'config env': 'binbridge config env',
};

type Options = NonNullable<ParseArgsConfig['options']>;
const COMMON: Options = { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } };
const PROVISION: Options = { ...COMMON, all: { type: 'boolean' }, rotate: { type: 'boolean' }, out: { type: 'string' } };
/** how many words name the command, and its options */
const COMMANDS: Record<string, { words: number; options: Options; args: [min: number, max: number] }> = {
  start: { words: 1, options: COMMON, args: [0, 0] },
  'devices secret': { words: 2, options: COMMON, args: [1, 1] },
  'devices provision': { words: 2, options: PROVISION, args: [0, Infinity] },
  'devices list': { words: 2, options: COMMON, args: [0, 0] },
  'devices revoke': { words: 2, options: COMMON, args: [1, 1] },
  'config check': { words: 2, options: COMMON, args: [0, 0] },
  'config env': { words: 2, options: { help: COMMON.help! }, args: [0, 0] },
};

/** A command called the wrong way: said with its usage line, exit 2. */
class UsageError extends Error {
  constructor(
    message: string,
    readonly usage: string,
  ) {
    super(message);
  }
}

function fail(message: string): never {
  console.error(message);
  process.exit(2);
}

/** The one message for an error an operator can fix, or null for a fault of binbridge's own (logged with its stack). */
function explain(err: unknown, all = false): string | null {
  if (err instanceof BinsFileError) {
    if (err.notFound) return `bins file not found: ${path.resolve(err.file)} (set registry.bins_file or BINBRIDGE_REGISTRY_BINS_FILE)`;
    return all ? `bins file ${err.file}: ${err.problems.length} problem(s):\n  ${err.problems.join('\n  ')}` : err.message;
  }
  if (err instanceof UsageError) return `${err.message}\nusage: ${err.usage}`;
  if (err instanceof ConfigError || err instanceof StartError) return err.message;
  return null;
}

function load(file: string | undefined): Config {
  try {
    const { config, warnings } = loadConfig({ file });
    for (const w of warnings) console.error(`warning: ${w}`);
    return config;
  } catch (err) {
    if (err instanceof ConfigError) fail(`binbridge: ${err.message}`);
    throw err;
  }
}


async function logger(config: Config) {
  const pretty = config.log_format === 'pretty' || (config.log_format === 'auto' && process.stdout.isTTY);
  if (pretty) {
    try {
      const { default: prettyStream } = await import('pino-pretty');
      return createLogger(config.log_level, prettyStream({ colorize: process.stdout.isTTY, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,app' }));
    } catch {
      /* pino-pretty is optional at run time */
    }
  }
  return createLogger(config.log_level);
}

/** The old generation's room for growth (src/heap-growth.ts), before the app allocates it. */
function limitHeapGrowth(): void {
  for (const flag of heapGrowthFlags(process.execArgv)) v8.setFlagsFromString(flag);
}

async function start(file: string | undefined): Promise<void> {
  limitHeapGrowth();
  const config = load(file);
  const log = await logger(config);
  let app;
  try {
    const { startApp } = await import('./app.js');
    app = await startApp(config, log);
  } catch (err) {
    const message = explain(err);
    if (message === null) {
      log.fatal({ err }, 'start-up failed');
      process.exit(1);
    }
    // startApp stopped what it had started, so the process ends by itself; the timer only guards against a leak
    console.error(`binbridge: ${message}`);
    process.exitCode = 2;
    realClock.setTimeout(() => process.exit(2), 4000).unref();
    return;
  }
  // for the operator, once: the page's address with the generated token. Written to stderr and never through the
  // logger, so the secret stays out of the log lines; a token from the config is the operator's own and not repeated
  const token = app.apiToken;
  const address = pageAddress(config.http.host, app.ports.http, token.source === 'config' ? null : token.value);
  console.error(
    token.source === 'config'
      ? `binbridge: live page at ${address} (it asks for http.api_token)`
      : `binbridge: live page at ${address} (API token in ${token.file}; requests from this machine need none)`,
  );
  let signals = 0;
  const shutdown = (signal: string): void => {
    if (++signals > 1) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    log.info({ signal }, 'shutting down');
    app.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

interface OpenRegistry {
  registry: BinRegistry;
  secrets: DeviceSecrets;
  close: () => Promise<void>;
}

/** The bins and device secrets where the bridge keeps them: SQLite under data_dir, or store.url's PostgreSQL. */
async function openRegistry(config: Config): Promise<OpenRegistry> {
  const deviceKey = loadDeviceKey(config.data_dir, config.mqtt.device_secrets_key);
  const opened = config.store.url !== '' ? await openShared(config, deviceKey.key) : openLocal(config, deviceKey.key);
  try {
    // as at start: the file's bins when it changed since the last import (a bin added there can be provisioned at once)
    await opened.registry.importFileIfChanged(config.registry.bins_file, knownFromConfig(config));
    const { hmac } = opened.secrets.counts();
    if (deviceKey.created && hmac > 0) console.error(`binbridge: ${deviceKey.file} was missing and is generated anew: the ${hmac} stored device secrets no longer verify; restore the file from the backup of the data folder (with store.url, copy it from another instance's), or provision every device again (--rotate)`);
    return opened;
  } catch (err) {
    await opened.close();
    throw err;
  }
}

function openLocal(config: Config, key: Buffer): OpenRegistry {
  const db = openDatabase(config.data_dir, { sync: 'full' });
  try {
    return { registry: new SqliteBinRegistry(db), secrets: new SqliteDeviceSecrets(db, key), close: async () => void db.close() };
  } catch (err) {
    db.close();
    throw err;
  }
}

/** store.url's PostgreSQL, brought to this release's schema as a start would; running instances see the changes within a second. */
async function openShared(config: Config, key: Buffer): Promise<OpenRegistry> {
  const { StoreConnectionError, checkConnection, migratePostgres, openPool, redactText, redactUrl } = await import('./storage/postgres/index.js');
  const { SchemaTooNewError } = await import('./storage/migrations.js');
  const { PostgresBinRegistry } = await import('./registry/registry-postgres.js');
  const { PostgresDeviceSecrets } = await import('./broker/device-secrets-postgres.js');
  const url = config.store.url;
  const pool = openPool({ url, applicationName: 'binbridge devices' });
  try {
    await checkConnection(pool, url);
    await migratePostgres(pool);
    const registry = new PostgresBinRegistry(() => pool);
    const secrets = new PostgresDeviceSecrets(() => pool, key);
    await registry.load();
    await secrets.load();
    return { registry, secrets, close: () => pool.end() };
  } catch (err) {
    await pool.end();
    if (err instanceof StoreConnectionError) throw new StartError(err.message, { cause: err });
    const message = `PostgreSQL at ${redactUrl(url)}: ${redactText(err instanceof Error ? err.message : String(err), url)}`;
    throw err instanceof SchemaTooNewError ? new StartError(message, { cause: err }) : new Error(message, { cause: err });
  }
}

/** `{ bin: secret }` as `devices provision --out` writes it; a file that is something else is not overwritten. */
function readSecretsFile(file: string): Record<string, string> {
  if (!fs.existsSync(file)) return {};
  try {
    const json: unknown = JSON.parse(fs.readFileSync(file, 'utf8'));
    if (json && typeof json === 'object' && !Array.isArray(json) && Object.values(json).every((v) => typeof v === 'string')) return json as Record<string, string>;
  } catch {
    /* said below */
  }
  fail(`binbridge: ${file} is not a secrets file (JSON {"<bin>": "<secret>"}); move it away or choose another --out`);
}

/** Runs `fn` over the items a few at a time: a record of the release before is verified with scrypt, on libuv's thread pool. */
async function inChunks<T, R>(items: readonly T[], fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += 8) out.push(...(await Promise.all(items.slice(i, i + 8).map(fn))));
  return out;
}

const some = (ids: readonly string[]): string => (ids.length <= 5 ? ids.join(', ') : `${ids.slice(0, 5).join(', ')}, … and ${ids.length - 5} more`);

/** Writes the secrets file whole, through a temporary file, so a reader never sees half of it. */
function writeSecretsFile(file: string, entries: Record<string, string>): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(entries, null, 1) + '\n', { mode: 0o600 });
  fs.renameSync(tmp, file);
}

/**
 * Issues secrets to the bins that have none (to all targets with --rotate): a device already flashed with its secret
 * must never be locked out by a batch run. With --out, FILE gets the new secrets beside its entries that still verify;
 * it is written after every few secrets, so an interrupted run loses at most those few.
 */
async function provision(targets: readonly string[], secrets: DeviceSecrets, opts: { rotate: boolean; out: string | null }): Promise<void> {
  const existing = opts.out ? readSecretsFile(opts.out) : {};
  const due = opts.rotate ? [...targets] : targets.filter((id) => !secrets.has(id));
  const dueSet = new Set(due);
  const kept = targets.filter((id) => !dueSet.has(id));
  const said: string[] = [];
  let entries: Record<string, string> = {};
  let dropped = 0;
  if (opts.out && due.length > 0) {
    // an entry of the old file stays only while it still verifies: a rotated or revoked secret must not reach a device
    const old = Object.entries(existing).filter(([id]) => !dueSet.has(id));
    const valid = await inChunks(old, ([id, secret]) => secrets.verify(id, secret));
    entries = Object.fromEntries(old.filter((_, i) => valid[i]));
    dropped = old.length - Object.keys(entries).length;
  }
  let issued = 0;
  for (let i = 0; i < due.length; i += 8) {
    const chunk = due.slice(i, i + 8);
    const fresh = await Promise.all(chunk.map(async (id) => [id, await secrets.issue(id)] as const));
    issued += fresh.length;
    if (opts.out) {
      for (const [id, secret] of fresh) entries[id] = secret;
      writeSecretsFile(opts.out, entries);
    } else {
      for (const [id, secret] of fresh) console.log(`${id} ${secret}`);
    }
  }
  said.push(`${issued} secret(s) issued`);
  if (kept.length > 0) {
    said.push(`${kept.length} bin(s) keep the secret they have (--rotate issues new ones)`);
    const missing = opts.out ? kept.filter((id) => existing[id] === undefined) : [];
    if (missing.length > 0) said.push(`${missing.length} of those are not in ${opts.out}: ${some(missing)}`);
  }
  if (opts.out) {
    if (issued > 0) said.push(`${Object.keys(entries).length} device(s) in ${opts.out}`);
    else said.push(fs.existsSync(opts.out) ? `${opts.out} unchanged (${Object.keys(existing).length} device(s))` : `${opts.out} not written`);
    if (dropped > 0) said.push(`dropped ${dropped} that no longer verif${dropped === 1 ? 'ies' : 'y'} (rotated or revoked since)`);
  }
  console.error(said.join('; '));
}

async function devices(sub: string, ids: string[], values: Record<string, unknown>, file: string | undefined): Promise<void> {
  const config = load(file);
  const { registry, secrets, close } = await openRegistry(config);
  const known = (id: string) => {
    if (registry.get(id)) return;
    const near = closest(id, registry.all().map((b) => b.id));
    fail(`binbridge: no bin ${id} in the registry (${config.registry.bins_file})${near ? `; did you mean ${near}?` : ''}`);
  };
  try {
    switch (sub) {
      case 'secret': {
        known(ids[0]!);
        const secret = await secrets.issue(ids[0]!);
        console.log(`${ids[0]} ${secret}`);
        console.error('This secret is shown once; binbridge keeps only a keyed hash of it. Flash it into the device as its MQTT password.');
        break;
      }
      case 'provision': {
        const targets = values.all ? registry.all().map((b) => b.id) : ids;
        if (targets.length === 0 || (values.all && ids.length > 0)) throw new UsageError('give --all or bin ids', USAGE['devices provision']!);
        for (const id of targets) known(id);
        await provision(targets, secrets, { rotate: values.rotate === true, out: typeof values.out === 'string' ? path.resolve(values.out) : null });
        break;
      }
      case 'list':
        for (const d of await secrets.list()) console.log(`${d.bin_id}\t${new Date(d.issued_at).toISOString()}`);
        break;
      case 'revoke':
        console.log((await secrets.revoke(ids[0]!)) ? `revoked ${ids[0]}` : `${ids[0]} had no secret`);
        break;
      default:
        fail(HELP);
    }
  } finally {
    await close();
  }
}

function configCommand(sub: string, file: string | undefined): void {
  if (sub === 'env') {
    for (const [name, { path: p }] of envVariables()) console.log(`${name}\t${p.join('.')}`);
    return;
  }
  const config = load(file);
  let bins;
  try {
    bins = readBinsFile(config.registry.bins_file, knownFromConfig(config));
  } catch (err) {
    // every bad row, not the first twenty: this is where an operator comes to see them all
    fail(`binbridge: ${explain(err, true) ?? String(err)}`);
  }
  const hidden = JSON.stringify(config, (k, v: unknown) => (/token|secret|password|key$/.test(k) && v ? '[set]' : v), 2);
  console.log(hidden);
  const zones = new Set(bins.map((b) => b.zone)).size;
  const kinds = new Set(bins.map((b) => b.kind)).size;
  console.error(`bins file ${config.registry.bins_file}: ${bins.length} bins in ${zones} zones, ${kinds} kinds`);
}

/** Finds the command, then parses its flags strictly: an unknown or misspelt flag is an error, never ignored. */
function parseCommand(argv: string[]): { name: string; args: string[]; values: Record<string, unknown> } {
  const every: Options = { ...PROVISION };
  const loose = parseArgs({ args: argv, allowPositionals: true, strict: false, options: every });
  const words = loose.positionals;
  if (words.length === 0 || words[0] === 'help') return { name: loose.values.help || words[0] === 'help' ? 'help' : 'start', args: [], values: loose.values };
  const name = COMMANDS[words[0]!]?.words === 1 ? words[0]! : `${words[0]} ${words[1] ?? ''}`.trim();
  const command = COMMANDS[name];
  if (!command) {
    if (loose.values.help) return { name: 'help', args: [], values: loose.values };
    const near = closest(name, Object.keys(COMMANDS));
    const group = Object.keys(USAGE).filter((k) => k.startsWith(`${words[0]} `));
    const usage = (group.length > 0 ? group : Object.keys(USAGE)).map((k) => USAGE[k]).join('\n       ');
    throw new UsageError(`${group.length > 0 && !words[1] ? `${words[0]} needs one of: ${group.map((k) => k.split(' ')[1]).join(', ')}` : `unknown command ${name}`}${near ? `; did you mean ${near}?` : ''}`, usage);
  }
  const usage = USAGE[name]!;
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, strict: true, options: command.options });
  } catch (err) {
    const e = err as Error & { code?: string };
    const flag = /'(-[^' ]+)/.exec(e.message)?.[1] ?? '';
    if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      const near = closest(flag.replace(/^-+/, ''), Object.keys(command.options));
      throw new UsageError(`unknown option ${flag}${near ? `; did you mean --${near}?` : ''}`, usage);
    }
    throw new UsageError(e.message.replace(/^Option '([^']+)'/, '$1:').replace(/\.$/, ''), usage);
  }
  if (parsed.values.help) return { name: 'help', args: [], values: parsed.values };
  const args = parsed.positionals.slice(command.words);
  const [min, max] = command.args;
  if (args.length > max) throw new UsageError(`unexpected argument ${args[max]}`, usage);
  if (args.length < min) throw new UsageError('missing BIN_ID', usage);
  return { name, args, values: parsed.values };
}

async function main(): Promise<void> {
  const { name, args, values } = parseCommand(process.argv.slice(2));
  const file = typeof values.config === 'string' ? values.config : undefined;
  switch (name) {
    case 'help':
      return void console.log(HELP);
    case 'start':
      return start(file);
    case 'config check':
    case 'config env':
      return configCommand(name.split(' ')[1]!, file);
    default:
      return devices(name.split(' ')[1]!, args, values, file);
  }
}

main().catch((err: unknown) => {
  const message = explain(err);
  if (message !== null) fail(`binbridge: ${message}`);
  console.error(err);
  process.exit(1);
});
