// Runs a command line (src/cli.ts by default, or another entry such as the simulator's, through tsx, so no build is
// needed) as its own process, as an operator does.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { CITY } from './bridge.js';

const run = promisify(execFile);

export async function cli(args: string[], env: Record<string, string> = {}, script = 'src/cli.ts'): Promise<{ code: number; stdout: string; stderr: string; ms: number }> {
  const t0 = Date.now();
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', script, ...args], {
      env: { ...process.env, BINBRIDGE_REGISTRY_BINS_FILE: CITY, BINBRIDGE_LOG_FORMAT: 'json', ...env },
      timeout: 30_000,
    });
    return { code: 0, stdout, stderr, ms: Date.now() - t0 };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr, ms: Date.now() - t0 };
  }
}
