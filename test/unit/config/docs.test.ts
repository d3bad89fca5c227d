// The README, the docs/ pages and the example config stay true to the schema.
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { envVariables, loadConfig } from '../../../src/config/index.js';

describe('docs', () => {
  it('names only environment variables that exist', () => {
    const known = new Set([...envVariables().keys(), 'BINBRIDGE_CONFIG']);
    const pages = ['README.md', ...fs.readdirSync('docs').filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
    const named = new Set(pages.flatMap((p) => fs.readFileSync(p, 'utf8').match(/BINBRIDGE_[A-Z0-9_]*[A-Z0-9]/g) ?? []));
    expect(named).toContain('BINBRIDGE_MQTT_PORT'); // the configuration page is among them
    expect([...named].filter((n) => !known.has(n))).toEqual([]);
  });

  it('ships a config/binbridge.yaml that loads without warnings', () => {
    const { warnings } = loadConfig({ file: 'config/binbridge.yaml', env: {} });
    expect(warnings).toEqual([]);
  });
});
