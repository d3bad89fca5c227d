import { randomBytes, scrypt } from 'node:crypto';
import type { Db } from '../../src/storage/index.js';

/** A device secret stored the way the release before HMAC records did (scrypt, N = 2^14); returns the secret. */
export async function provisionLegacy(db: Db, binId: string): Promise<string> {
  const secret = randomBytes(24).toString('base64url');
  const salt = randomBytes(16);
  const key = await new Promise<Buffer>((resolve, reject) => scrypt(secret, salt, 32, { N: 2 ** 14, r: 8, p: 1 }, (err, k) => (err ? reject(err) : resolve(k))));
  db.prepare('INSERT INTO device_secrets (bin_id, hash, issued_at) VALUES (?, ?, 0)').run(binId, `scrypt$16384$8$1$${salt.toString('base64')}$${key.toString('base64')}`);
  return secret;
}
