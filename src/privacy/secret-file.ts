import fs from 'node:fs';
import path from 'node:path';

/**
 * A secret kept in a file of the data folder: read when the file is there, else generated and written with mode
 * 0600 — exclusively, so that two processes starting together (the bridge and a CLI command) end up with one secret,
 * the first one written. `created` says whether this call wrote it.
 */
export function readOrCreateSecret(file: string, generate: () => string): { value: string; created: boolean } {
  for (;;) {
    try {
      return { value: fs.readFileSync(file, 'utf8').trim(), created: false };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const value = generate();
    try {
      fs.writeFileSync(file, value + '\n', { mode: 0o600, flag: 'wx' });
      return { value, created: true };
    } catch (err) {
      // another process wrote it first: read theirs
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
}
