import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readDeviceSecrets } from '../../../firmware-sim/device-secrets.js';

describe('readDeviceSecrets', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'secrets-'));

  it('reads { binId: secret }', async () => {
    await writeFile(join(dir, 'ok.json'), JSON.stringify({ 'RTM-001': 'a', 'RTM-002': 'b' }));
    await expect(readDeviceSecrets(join(dir, 'ok.json'))).resolves.toEqual({ 'RTM-001': 'a', 'RTM-002': 'b' });
  });

  it('tells how to provision when the file is missing', async () => {
    await expect(readDeviceSecrets('data/device-secrets.json')).rejects.toThrow(
      /not found\.\nCreate it with: {2}npm run devices -- provision --all --out data\/device-secrets\.json/,
    );
  });

  it('refuses other shapes', async () => {
    await writeFile(join(dir, 'bad.json'), JSON.stringify({ 'RTM-001': 42 }));
    await expect(readDeviceSecrets(join(dir, 'bad.json'))).rejects.toThrow(/must be a JSON object/);
    await writeFile(join(dir, 'broken.json'), '{');
    await expect(readDeviceSecrets(join(dir, 'broken.json'))).rejects.toThrow(/not valid JSON/);
  });
});
