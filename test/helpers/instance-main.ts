// A binbridge process on a postgres:// store.url for tests, while `binbridge start` still refuses one (storeRoom,
// until every store lives in PostgreSQL): the configuration loaded as the command line loads it (BINBRIDGE_* and
// $BINBRIDGE_CONFIG, else config/binbridge.yaml), then startApp with `postgresFoundation`. Prints one JSON line
// `{"instance":{"mqtt":PORT,"http":PORT}}` on stdout once it listens; SIGTERM or SIGINT stop it cleanly.
// Run through test/helpers/instance.ts, the one place that decides the command.
import { startApp } from '../../src/app.js';
import { loadConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/log.js';

const { config, warnings } = loadConfig({});
for (const w of warnings) console.error(`warning: ${w}`);
const log = createLogger(config.log_level);
const app = await startApp(config, log, { postgresFoundation: true });
process.stdout.write(`${JSON.stringify({ instance: { mqtt: app.ports.mqtt, http: app.ports.http } })}\n`);

let stopping = false;
const stop = (): void => {
  if (stopping) process.exit(1);
  stopping = true;
  app.stop().then(
    () => process.exit(0),
    (err: unknown) => {
      log.error({ err }, 'shutdown failed');
      process.exit(1);
    },
  );
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
