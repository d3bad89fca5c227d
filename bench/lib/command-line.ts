// The command lines of the developer tools (fuzz/, twin/, bench/): strict flags, a usage text, exit 2 with the
// usage on any bad option, --help printing it and exiting 0.
import { parseArgs, type ParseArgsConfig } from 'node:util';

export interface CommandLine<T> {
  values: T;
  /** prints `tool: message` and the usage on stderr, exits 2 */
  fail(message: string): never;
  /** a whole number in min..max from a flag's text, or fail() naming the flag */
  int(name: string, text: string | undefined, min: number, max: number): number;
}

export function commandLine<O extends NonNullable<ParseArgsConfig['options']>>(tool: string, usage: string, options: O): CommandLine<ReturnType<typeof parseArgs<{ options: O }>>['values']> {
  const fail = (message: string): never => {
    process.stderr.write(`${tool}: ${message}\n${usage}\n`);
    process.exit(2);
  };
  let values;
  try {
    values = parseArgs({ options: { ...options, help: { type: 'boolean', short: 'h', default: false } } }).values;
  } catch (err) {
    fail((err as Error).message);
  }
  if ((values as { help?: boolean }).help) {
    process.stdout.write(`${usage}\n`);
    process.exit(0);
  }
  const int = (name: string, text: string | undefined, min: number, max: number): number => {
    const n = Number(text);
    if (text === undefined || !Number.isInteger(n) || n < min || n > max) fail(`--${name} must be an integer in ${min}..${max} (got ${text ?? 'nothing'})`);
    return n;
  };
  return { values: values as ReturnType<typeof parseArgs<{ options: O }>>['values'], fail, int };
}
