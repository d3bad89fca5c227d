// Runs the command line (src/cli.ts through tsx, so no build is needed) as its own process, as an operator does.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { CITY } from './bridge.js';

const run = promisify(execFile);

export async function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], {
      env: { ...process.env, BINBRIDGE_REGISTRY_BINS_FILE: CITY, BINBRIDGE_LOG_FORMAT: 'json', ...env },
      timeout: 30_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}
