import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import path from 'node:path';
import { readOrCreateSecret } from './secret-file.js';

/**
 * Keeps contacts' numbers and message contents out of the database in clear: a keyed pseudonym (HMAC-SHA256)
 * stands for a number wherever one is looked up or grouped by, and what must be read back (the number to send
 * to, a message body) is sealed with AES-256-GCM. Both keys derive from one secret (`reports.pseudonym_key`),
 * so the same number always gets the same pseudonym in this deployment and in no other.
 */
export class Sealer {
  private readonly tagKey: Buffer;
  private readonly sealKey: Buffer;

  constructor(secret: string | Buffer) {
    if (!secret || secret.length < 16) throw new Error('the sealing secret must be at least 16 bytes');
    const ikm = Buffer.isBuffer(secret) ? secret : Buffer.from(secret);
    this.tagKey = Buffer.from(hkdfSync('sha256', ikm, 'binbridge', 'pseudonym', 32));
    this.sealKey = Buffer.from(hkdfSync('sha256', ikm, 'binbridge', 'seal', 32));
  }

  /** A stable pseudonym for a number or user id: `p_` + 24 hex characters. */
  pseudonym(id: string): string {
    return 'p_' + createHmac('sha256', this.tagKey).update(id).digest('hex').slice(0, 24);
  }

  /** A keyed digest of bytes (a webhook body): the same bytes give the same digest, which tells nothing without the key. */
  digest(data: Buffer): string {
    return createHmac('sha256', this.tagKey).update('bytes:').update(data).digest('hex');
  }

  seal(plain: string | Buffer): Buffer {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.sealKey, iv);
    const body = Buffer.concat([cipher.update(Buffer.isBuffer(plain) ? plain : Buffer.from(plain)), cipher.final()]);
    // version byte, iv, tag, ciphertext
    return Buffer.concat([Buffer.from([1]), iv, cipher.getAuthTag(), body]);
  }

  open(sealed: Buffer): Buffer {
    if (sealed[0] !== 1) throw new Error('unknown sealed format');
    const decipher = createDecipheriv('aes-256-gcm', this.sealKey, sealed.subarray(1, 13));
    decipher.setAuthTag(sealed.subarray(13, 29));
    return Buffer.concat([decipher.update(sealed.subarray(29)), decipher.final()]);
  }

  openText(sealed: Buffer): string {
    return this.open(sealed).toString('utf8');
  }
}

/** Where `loadSealer` keeps a generated secret. */
export const GENERATED_KEY_FILE = 'pseudonym.key';

/**
 * The deployment's Sealer: from the configured secret (`reports.pseudonym_key`), or, when that is empty, from a
 * secret generated once into `<data_dir>/pseudonym.key` (mode 0600) and read from there after. Changing either
 * later makes what was sealed before unreadable and gives every number a new pseudonym.
 */
export function loadSealer(configuredSecret: string, dataDir: string): Sealer {
  if (configuredSecret) return new Sealer(configuredSecret);
  return new Sealer(readOrCreateSecret(path.join(dataDir, GENERATED_KEY_FILE), () => randomBytes(32).toString('hex')).value);
}
