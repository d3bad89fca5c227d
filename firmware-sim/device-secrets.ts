import { readFile } from 'node:fs/promises';
import { z } from 'zod';

const deviceSecretsSchema = z.record(z.string().min(1), z.string().min(1));
export type DeviceSecrets = z.infer<typeof deviceSecretsSchema>;

export const provisionHint = (path: string): string => `npm run devices -- provision --all --out ${path}`;

export class DeviceSecretsError extends Error {
  override readonly name = 'DeviceSecretsError';
}

/** Reads `{ "<binId>": "<secret>" }` as written by the bridge's `devices provision` command. */
export async function readDeviceSecrets(path: string): Promise<DeviceSecrets> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new DeviceSecretsError(
        `device secrets file ${path} not found.\nCreate it with:  ${provisionHint(path)}\n(or pass --credentials PATH, or --no-auth for a broker running with mqtt.auth: none;` +
          ` bins that already have a secret keep it: --rotate gives them new ones, and devices flashed with the old ones are then refused)`,
      );
    }
    throw new DeviceSecretsError(`cannot read device secrets file ${path}: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new DeviceSecretsError(`device secrets file ${path} is not valid JSON (${(err as Error).message})`);
  }
  const result = deviceSecretsSchema.safeParse(json);
  if (!result.success) {
    throw new DeviceSecretsError(`device secrets file ${path} must be a JSON object { "<binId>": "<secret>" }: ${z.prettifyError(result.error)}`);
  }
  return result.data;
}
