// Where a city's zones come from: the config's `zones`, or, when it names none (the built-in defaults), the bins file.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BinsFileError } from '../../src/registry/index.js';
import { CITY, startBridge } from '../helpers/bridge.js';

const tmpFile = (name: string, text: string): string => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'bb-zones-')), name);
  fs.writeFileSync(file, text);
  return file;
};

describe('zones', () => {
  it('with no zones configured (the defaults), the bins file\'s zones are the zones', async () => {
    const bridge = await startBridge({ BINBRIDGE_CONFIG: tmpFile('empty.yaml', '') });
    try {
      const fromFile = [...new Set(fs.readFileSync(CITY, 'utf8').trim().split('\n').slice(1).map((l) => l.split(',')[4]))];
      expect(bridge.zonesAndCrews.zones().map((z) => z.id)).toEqual(fromFile);
      expect(bridge.registry.size).toBeGreaterThanOrEqual(300);
    } finally {
      await bridge.stop();
    }
  });

  it('with zones configured, a bins file naming another zone stops the start with the line and the known zones', async () => {
    const config = tmpFile('city.yaml', 'zones:\n  - { id: centrum, name: Centrum }\n');
    const err = await startBridge({ BINBRIDGE_CONFIG: config }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(BinsFileError);
    expect((err as BinsFileError).problems[0]).toMatch(/^line \d+: zone: unknown zone "(noordoost|oost|zuid|west|noordwest|leidsche-rijn)"; known zones: centrum$/);
  });
});
