import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { readOrCreateSecret } from '../privacy/secret-file.js';
import { StartError } from '../start-error.js';

/** Where a generated token is kept, in `data_dir`. */
export const API_TOKEN_FILE = 'api.token';

export interface ApiToken {
  value: string;
  /** `config`: http.api_token; `generated`: written to `file` at this start; `file`: read from `file`, generated at an earlier start */
  source: 'config' | 'generated' | 'file';
  /** the generated token's file (`<data_dir>/api.token`), null for a configured one */
  file: string | null;
}

/**
 * The API token: http.api_token when set, else one generated once into `<data_dir>/api.token` (mode 0600) and read
 * from there at every later start, so a bookmarked address keeps working. Delete the file to get a new one.
 */
export function loadApiToken(configured: string, dataDir: string): ApiToken {
  if (configured) return { value: configured, source: 'config', file: null };
  const file = path.join(dataDir, API_TOKEN_FILE);
  const { value, created } = readOrCreateSecret(file, () => randomBytes(24).toString('base64url'));
  // an empty file must not mean "no token": that would open the API to every address
  if (value.length < 16) throw new StartError(`${file} holds no usable token (at least 16 characters); delete it to have a new one generated, or set http.api_token`);
  return { value, source: created ? 'generated' : 'file', file };
}

/**
 * The live page's address for the operator, e.g. `http://localhost:3000/#token=…`: the token rides in the
 * fragment, which the browser never sends (no access log, no Referer sees it); the page keeps it. A listener on every
 * address (0.0.0.0, ::) is shown as localhost, the address that works on this machine.
 */
export function pageAddress(host: string, port: number, token: string | null): string {
  const shown = host === '' || host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  return `http://${shown}:${port}/${token ? `#token=${encodeURIComponent(token)}` : ''}`;
}
