import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';

export class ProvisionError extends Error {
  override readonly name = 'ProvisionError';
}

/** binbridge's command line beside the simulator: dist/src/cli.js when built, src/cli.ts when run from source. */
function binbridgeCli(): string {
  for (const rel of ['../src/cli.js', '../src/cli.ts']) {
    const file = fileURLToPath(new URL(rel, import.meta.url));
    if (fs.existsSync(file)) return file;
  }
  throw new ProvisionError("binbridge's command line (src/cli) is not beside the simulator; provision with binbridge devices provision");
}

/**
 * Runs `binbridge devices provision --all --out FILE` in this environment (its BINBRIDGE_* variables and config
 * apply): bins without a secret get one, into FILE; bins with one keep it. The simulator imports nothing of
 * binbridge: it asks binbridge's own command line, as an operator would, and then talks MQTT only.
 */
export async function provisionSecrets(out: string): Promise<void> {
  const cli = binbridgeCli();
  // from source, the command line needs the same loader (tsx) as the simulator
  const args = [...(cli.endsWith('.ts') ? process.execArgv : []), cli, 'devices', 'provision', '--all', '--out', out];
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit'] });
    child.once('error', reject);
    child.once('exit', resolve);
  });
  if (code !== 0) throw new ProvisionError(`provisioning device secrets into ${out} failed (binbridge devices provision exited ${code})`);
}
