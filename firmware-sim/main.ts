import { createBinModel } from './bin-model.js';
import { BinsFileError, readBinsFile, type SimBin } from './bins-file.js';
import { DeviceSecretsError, provisionHint, readDeviceSecrets, type DeviceSecrets } from './device-secrets.js';
import { brokersOf } from './brokers.js';
import { SimDevice, type DeviceLog } from './device.js';
import { createUplinkEncoder, deviceIds } from './lorawan.js';
import { OptionsError, readSimOptions, SIM_HELP, type SimOptions } from './options.js';
import { ProvisionError, provisionSecrets } from './provision.js';
import { formatProgress, formatSimTime, sumSnapshots } from './progress.js';
import { createSimClock, defaultSimStart } from './sim-clock.js';

const MIN_PUBLISH_EVERY_MS = 20;
const STAGGER_TICK_MS = 20;

class UsageError extends Error {}

function formatFields(fields: Record<string, unknown>): string {
  return Object.entries(fields)
    .map(([k, v]) => `${k}=${typeof v === 'string' && !/\s/.test(v) ? v : JSON.stringify(v)}`)
    .join(' ');
}

/** Event lines go to stderr; on a terminal the progress line on stdout is cleared first and redrawn later. */
function createEventLog(quiet: boolean): { log: DeviceLog; warn: (event: string, fields: Record<string, unknown>) => void; ending: () => void } {
  const clearProgress = (): void => {
    if (process.stdout.isTTY) process.stdout.write('\r\x1b[K');
  };
  const write = (level: string, event: string, fields: Record<string, unknown>): void => {
    clearProgress();
    process.stderr.write(`${new Date().toISOString()} ${level} ${event} ${formatFields(fields)}\n`);
  };
  const connectionErrorsSeen = new Set<unknown>();
  // once stopping: the broker may be going down with us (Ctrl-C reaches a whole process group), and a device's
  // failed reconnect then is no news
  let stopping = false;
  const log: DeviceLog = (event, fields) => {
    if (event === 'device_connection_error') {
      if (stopping) return;
      // a broker that is down would otherwise give one line per device
      if (connectionErrorsSeen.has(fields.error)) return;
      connectionErrorsSeen.add(fields.error);
      write('WARN', event, { ...fields, note: 'further devices with this error are not logged' });
    } else if (event === 'device_refused') {
      write('WARN', event, fields);
    } else if (!quiet) {
      write('INFO', event, fields);
    }
  };
  return { log, warn: (event, fields) => write('WARN', event, fields), ending: () => void (stopping = true) };
}

async function loadSecrets(options: SimOptions): Promise<DeviceSecrets | undefined> {
  // a network server's integration logs in with its own account, not with the devices' secrets
  if (options.noAuth || options.network) return undefined;
  try {
    // only now, when the devices will log in: --help or a bad option must not touch the registry's secrets
    if (options.provision) await provisionSecrets(options.credentials);
    return await readDeviceSecrets(options.credentials);
  } catch (err) {
    if (err instanceof DeviceSecretsError || err instanceof ProvisionError) throw new UsageError(err.message);
    throw err;
  }
}

async function loadBins(options: SimOptions): Promise<SimBin[]> {
  try {
    const bins = await readBinsFile(options.binsFile);
    if (bins.length === 0) throw new UsageError(`bins file ${options.binsFile} has no bins`);
    return options.bins === undefined ? bins : bins.slice(0, options.bins);
  } catch (err) {
    if (err instanceof BinsFileError) throw new UsageError(err.message);
    throw err;
  }
}

async function run(options: SimOptions): Promise<void> {
  const { log, warn, ending } = createEventLog(options.quiet);
  const secrets = await loadSecrets(options);
  let bins = await loadBins(options);
  if (secrets) {
    const missing = bins.filter((b) => secrets[b.id] === undefined);
    if (missing.length === bins.length) {
      throw new UsageError(`no bin of ${options.binsFile} has a secret in ${options.credentials}; provision them with: ${provisionHint(options.credentials)}`);
    }
    if (missing.length > 0) {
      warn('bins_without_secret_skipped', { count: missing.length, first: missing[0]?.id, credentials: options.credentials });
      bins = bins.filter((b) => secrets[b.id] !== undefined);
    }
  }

  const realStamps = options.stamps === 'real';
  const startSimMs = options.startTimeMs ?? (realStamps ? Date.now() : defaultSimStart(Date.now(), options.speed, options.durationMs));
  const clock = createSimClock(startSimMs, options.speed, Date.now, { ahead: realStamps });
  const publishEveryMs = Math.max(MIN_PUBLISH_EVERY_MS, options.intervalMs / options.speed);
  if (publishEveryMs > options.intervalMs / options.speed) {
    warn('publish_interval_raised', { every_ms: MIN_PUBLISH_EVERY_MS, note: 'interval/speed is shorter; readings will be further apart in simulated time' });
  }
  const utcOffsetMinutes = -new Date(startSimMs).getTimezoneOffset();
  const network = options.network;
  const devices = bins.map(
    (bin, index) =>
      new SimDevice({
        ...(network
          ? {
              network: {
                uplink: createUplinkEncoder(deviceIds(bin), network),
                clientId: `sim-${network.format}-${deviceIds(bin).devEui.toLowerCase()}`,
                username: network.username,
                password: network.password,
              },
            }
          : {}),
        binId: bin.id,
        urls: brokersOf(index, options.urls),
        secret: secrets?.[bin.id],
        qos: options.qos,
        source: createBinModel(bin, options.seed, { startTimeMs: startSimMs, faultRates: options.faultRates, utcOffsetMinutes }),
        simNow: clock.now,
        ...(realStamps ? { stampNow: Date.now } : {}),
        publishEveryMs,
        log,
      }),
  );

  if (!options.quiet) {
    process.stderr.write(
      `firmware-sim: ${devices.length} bins -> ${options.urls.join(', ')}${network ? ` as ${network.format} uplinks` : ''}, a reading every ${options.intervalMs / 1000}s simulated ` +
        `(${Math.round(publishEveryMs)}ms real), qos ${options.qos}, seed ${options.seed}, sim clock from ${formatSimTime(startSimMs)}\n`,
    );
  }

  // staggered start: --connect-rate new connections per second
  let started = 0;
  const realStart = Date.now();
  const startDue = (): void => {
    const due = Math.min(devices.length, Math.floor(((Date.now() - realStart) / 1000) * options.connectRate) + 1);
    while (started < due) devices[started++]?.start();
    if (started >= devices.length) clearInterval(staggerTimer);
  };
  const staggerTimer = setInterval(startDue, STAGGER_TICK_MS);
  startDue();

  const progress = (): string => formatProgress(sumSnapshots(devices.map((d) => d.snapshot())), clock.now());
  const progressTimer = options.quiet
    ? undefined
    : setInterval(
        () => {
          if (process.stdout.isTTY) process.stdout.write(`\r${progress()}\x1b[K`);
          else process.stdout.write(`${progress()}\n`);
        },
        process.stdout.isTTY ? 500 : 2000,
      );

  await new Promise<void>((resolve) => {
    const durationTimer = options.durationMs === undefined ? undefined : setTimeout(resolve, options.durationMs);
    const onSignal = (): void => {
      ending();
      clearTimeout(durationTimer);
      resolve();
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });

  // a second Ctrl-C while devices say goodbye ends at once
  process.once('SIGINT', () => process.exit(130));
  clearInterval(staggerTimer);
  clearInterval(progressTimer);
  if (process.stdout.isTTY) process.stdout.write('\r\x1b[K');
  const simEnd = clock.now();
  await Promise.all(devices.map((d) => d.stop()));
  const totals = sumSnapshots(devices.map((d) => d.snapshot()));
  process.stdout.write(
    `firmware-sim stopped: ${totals.devices} devices, sent ${totals.sent}, acked ${totals.acked}, ` +
      `unsent ${totals.buffered + totals.inflight} (buffered or unacknowledged), dropped ${totals.dropped}, ` +
      `simulated ${formatSimTime(startSimMs)} .. ${formatSimTime(simEnd)}\n`,
  );
}

async function main(): Promise<number> {
  let options: SimOptions;
  try {
    options = readSimOptions(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof OptionsError)) throw err;
    console.error(`firmware-sim: ${err.message}\nUsage: npm run sim -- [options] (--help for the options)`);
    return 2;
  }
  if (options.help) {
    process.stdout.write(`${SIM_HELP}\n`);
    return 0;
  }
  try {
    await run(options);
    return 0;
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`firmware-sim: ${err.message}`);
    return 1;
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error('firmware-sim: unexpected error', err);
    process.exit(1);
  },
);
