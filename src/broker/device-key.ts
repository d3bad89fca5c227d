import { hkdfSync, randomBytes } from 'node:crypto';
import path from 'node:path';
import { readOrCreateSecret } from '../privacy/secret-file.js';
import { StartError } from '../start-error.js';

/** Where the key of the device secrets' HMAC records is kept, in `data_dir`. */
export const DEVICE_KEY_FILE = 'device-secrets.key';

export interface DeviceKey {
  /** the HMAC key, derived from the file's secret */
  key: Buffer;
  file: string;
  /** this call wrote the file: records made under an earlier key (if any) no longer verify */
  created: boolean;
}

/** What `file` says when the key comes from the setting rather than a file. */
export const DEVICE_KEY_SETTING = 'mqtt.device_secrets_key';

/**
 * The server-side key (a "pepper") of the device secrets' HMAC records: the setting `mqtt.device_secrets_key` when
 * given (instances sharing a PostgreSQL store need one key, so a deployment sets it on each), else generated once
 * into `<data_dir>/device-secrets.key` (mode 0600) and read from there after, like the pseudonym key. It never enters
 * the database, so a leaked database alone cannot test a guessed secret. Lose it and every device must be
 * provisioned again: it belongs in the backup (or the secret store), not in the repository or the logs.
 */
export function loadDeviceKey(dataDir: string, configured = ''): DeviceKey {
  if (configured !== '') {
    if (configured.length < 32) throw new StartError(`${DEVICE_KEY_SETTING} (BINBRIDGE_MQTT_DEVICE_SECRETS_KEY) is too short: at least 32 characters, e.g. \`openssl rand -hex 32\``);
    return { key: derive(configured), file: DEVICE_KEY_SETTING, created: false };
  }
  const file = path.join(dataDir, DEVICE_KEY_FILE);
  const { value, created } = readOrCreateSecret(file, () => randomBytes(32).toString('hex'));
  if (value.length < 32) throw new StartError(`${file} holds no usable key (at least 32 characters); restore it from the backup of the data folder, or delete it and provision every device again`);
  return { key: derive(value), file, created };
}

const derive = (secret: string): Buffer => Buffer.from(hkdfSync('sha256', secret, 'binbridge', 'device-secrets', 32));
