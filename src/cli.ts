#!/usr/bin/env node
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startApp } from './app.js';
import { DeviceSecrets } from './broker/index.js';
import { ConfigError, envVariables, loadConfig, type Config } from './config/index.js';
import { createLogger } from './log.js';
import { BinsFileError, Registry } from './registry/index.js';
import { openDatabase } from './storage/index.js';

const HELP = `binbridge — smart-bin telemetry bridge

usage:
  binbridge start [--config FILE]                 run the bridge (npm start)
  binbridge devices secret BIN_ID                 create or rotate a device's MQTT secret; prints it once
                                                  (a running bridge closes the session of the old one)
  binbridge devices provision [--all | BIN_ID...] [--rotate] [--out FILE]
                                                  issue secrets for bins that have none (all with --rotate)
                                                  and write them to FILE (JSON {bin: secret}, mode 0600)
  binbridge devices list                          bins with a secret, and when it was issued
  binbridge devices revoke BIN_ID                 remove a device's secret: it can no longer connect, and a
                                                  running bridge closes its session within a second
  binbridge config check [--config FILE]          validate the configuration and print it (secrets hidden)
  binbridge config env                            list the BINBRIDGE_* variables that override config keys

The config file is --config FILE, else $BINBRIDGE_CONFIG, else config/binbridge.yaml (defaults when absent).`;

function fail(message: string): never {
  console.error(message);
  process.exit(2);
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

async function start(file: string | undefined): Promise<void> {
  const config = load(file);
  const log = await logger(config);
  let app;
  try {
    app = await startApp(config, log);
  } catch (err) {
    if (err instanceof BinsFileError) log.fatal({ file: err.file, problems: err.problems.slice(0, 20) }, 'bins file rejected');
    else log.fatal({ err }, 'start-up failed');
    process.exit(1);
  }
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

function openRegistry(config: Config) {
  const db = openDatabase(config.data_dir, { sync: 'full' });
  const registry = new Registry(db);
  if (registry.size === 0) registry.importFileIfChanged(config.registry.bins_file);
  return { db, registry, secrets: new DeviceSecrets(db) };
}

async function devices(args: string[], file: string | undefined): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { all: { type: 'boolean' }, rotate: { type: 'boolean' }, out: { type: 'string' } },
  });
  const [sub, ...ids] = positionals;
  const config = load(file);
  const { db, registry, secrets } = openRegistry(config);
  const known = (id: string) => registry.get(id) ?? fail(`no bin ${id} in the registry (${config.registry.bins_file})`);
  try {
    switch (sub) {
      case 'secret': {
        if (ids.length !== 1) fail('usage: binbridge devices secret BIN_ID');
        known(ids[0]!);
        const secret = await secrets.issue(ids[0]!);
        console.log(`${ids[0]} ${secret}`);
        console.error('This secret is shown once; binbridge keeps only its scrypt hash. Flash it into the device as its MQTT password.');
        break;
      }
      case 'provision': {
        const targets = values.all ? registry.all().map((b) => b.id) : ids;
        if (targets.length === 0) fail('usage: binbridge devices provision [--all | BIN_ID...] [--rotate] [--out FILE]');
        const out = values.out ? path.resolve(values.out) : null;
        const existing: Record<string, string> = out && fs.existsSync(out) ? JSON.parse(fs.readFileSync(out, 'utf8')) : {};
        for (const id of targets) known(id);
        // a bin keeps its secret unless asked to rotate, as long as the file still has it
        const due = targets.filter((id) => values.rotate || !secrets.has(id) || (out && !existing[id]));
        // scrypt runs on libuv's thread pool: a few at a time
        for (let i = 0; i < due.length; i += 8) {
          const chunk = due.slice(i, i + 8);
          const issuedSecrets = await Promise.all(chunk.map((id) => secrets.issue(id)));
          chunk.forEach((id, k) => (existing[id] = issuedSecrets[k]!));
        }
        const issued = due.length;
        if (out) {
          fs.mkdirSync(path.dirname(out), { recursive: true });
          fs.writeFileSync(out, JSON.stringify(existing, null, 1) + '\n', { mode: 0o600 });
          console.error(`${issued} secret(s) issued; ${Object.keys(existing).length} device(s) in ${out}`);
        } else {
          for (const id of targets) if (existing[id]) console.log(`${id} ${existing[id]}`);
        }
        break;
      }
      case 'list':
        for (const d of secrets.list()) console.log(`${d.bin_id}\t${new Date(d.issued_at).toISOString()}`);
        break;
      case 'revoke':
        if (ids.length !== 1) fail('usage: binbridge devices revoke BIN_ID');
        console.log(secrets.revoke(ids[0]!) ? `revoked ${ids[0]}` : `${ids[0]} had no secret`);
        break;
      default:
        fail(HELP);
    }
  } finally {
    db.close();
  }
}

function configCommand(sub: string | undefined, file: string | undefined): void {
  if (sub === 'env') {
    for (const [name, { path: p }] of envVariables()) console.log(`${name}\t${p.join('.')}`);
    return;
  }
  if (sub !== 'check') fail(HELP);
  const config = load(file);
  const hidden = JSON.stringify(config, (k, v: unknown) => (/token|secret|password|key$/.test(k) && v ? '[set]' : v), 2);
  console.log(hidden);
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: false,
    options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } },
  });
  const file = typeof values.config === 'string' ? values.config : undefined;
  const rest = argv.filter((a, i) => a !== '--config' && a !== '-c' && argv[i - 1] !== '--config' && argv[i - 1] !== '-c' && !a.startsWith('--config='));
  if (values.help) return void console.log(HELP);
  switch (positionals[0] ?? 'start') {
    case 'start':
      return start(file);
    case 'devices':
      return devices(rest.slice(1), file);
    case 'config':
      return configCommand(positionals[1], file);
    default:
      fail(HELP);
  }
}

main().catch((err: unknown) => {
  if (err instanceof BinsFileError || err instanceof ConfigError) fail(`binbridge: ${err.message}`);
  console.error(err);
  process.exit(1);
});
