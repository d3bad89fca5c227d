import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { GENERATED_KEY_FILE, Sealer, loadSealer } from '../../../src/whatsapp/index.js';

describe('loadSealer', () => {
  it('uses the configured secret', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bb-sealer-'));
    expect(loadSealer('a-configured-secret-of-length', dir).pseudonym('1')).toBe(new Sealer('a-configured-secret-of-length').pseudonym('1'));
    expect(fs.existsSync(path.join(dir, GENERATED_KEY_FILE))).toBe(false);
  });

  it('generates a secret once into the data dir, readable by the owner only, and reuses it', () => {
    const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'bb-sealer-')), 'data');
    const first = loadSealer('', dir);
    const file = path.join(dir, GENERATED_KEY_FILE);
    expect(fs.statSync(file).mode & 0o077).toBe(0);
    expect(fs.readFileSync(file, 'utf8').trim()).toMatch(/^[0-9a-f]{64}$/);
    const again = loadSealer('', dir);
    expect(again.pseudonym('31612345678')).toBe(first.pseudonym('31612345678'));
    expect(again.openText(first.seal('x'))).toBe('x');
  });
});
