import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { DeviceSecrets } from '../../../src/broker/index.js';

describe('DeviceSecrets', () => {
  it('stores only a scrypt hash, verifies, rotates and revokes', async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'bb-sec-')), 'x.db');
    const db = new Database(file);
    const secrets = new DeviceSecrets(db);
    const s1 = await secrets.issue('UTR-0001');
    expect(s1.length).toBeGreaterThanOrEqual(32);
    const stored = db.prepare('SELECT hash FROM device_secrets').pluck().get() as string;
    expect(stored).toMatch(/^scrypt\$16384\$8\$1\$/);
    expect(stored).not.toContain(s1);
    db.close();
    expect(fs.readFileSync(file).includes(Buffer.from(s1))).toBe(false);

    const again = new DeviceSecrets(new Database(file));
    expect(await again.verify('UTR-0001', s1)).toBe(true);
    expect(await again.verify('UTR-0001', s1)).toBe(true); // the remembered path
    expect(await again.verify('UTR-0001', 'wrong')).toBe(false);
    expect(await again.verify('UTR-0002', s1)).toBe(false);
    const s2 = await again.issue('UTR-0001');
    expect(await again.verify('UTR-0001', s1)).toBe(false);
    expect(await again.verify('UTR-0001', s2)).toBe(true);
    expect(again.revoke('UTR-0001')).toBe(true);
    expect(await again.verify('UTR-0001', s2)).toBe(false);
  });
});
