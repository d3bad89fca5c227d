import { parseArgs } from 'node:util';
import { CLI_HELP, cliArgOptions, CliOptionsError, parseCliOptions, type CliOptions } from './cli-options.js';
import { startGraphEmulator } from './graph-emulator.js';

function readOptions(argv: string[]): CliOptions {
  try {
    const { values } = parseArgs({ args: argv, options: cliArgOptions, strict: true, allowPositionals: false });
    return parseCliOptions(values);
  } catch (err) {
    throw new CliOptionsError((err as Error).message);
  }
}

async function main(): Promise<void> {
  let options: CliOptions;
  try {
    options = readOptions(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${CLI_HELP}`);
    process.exitCode = 2;
    return;
  }
  if (options.help) {
    process.stdout.write(CLI_HELP);
    return;
  }
  const emulator = await startGraphEmulator(options.emulator);
  for (const n of options.openWindows) emulator.openWindow(n);
  const o = options.emulator;
  process.stdout.write(
    `graph emulator listening url=${emulator.url} phone_number_id=${emulator.phoneNumberId} ` +
      `webhook=${o.webhookUrl ?? '(none: no status or inbound webhooks)'} ` +
      `controls=${emulator.url}/__emulator/{faults,inbound,redeliver,reset,messages,statuses}\n`,
  );
  let closing = false;
  const stop = (): void => {
    if (closing) return;
    closing = true;
    void emulator.close().then(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
