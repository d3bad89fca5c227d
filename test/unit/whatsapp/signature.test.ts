import { createHmac } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { verifySignature } from '../../../src/whatsapp/index.js';
import { FIXTURES } from './fixtures.js';

const SECRET = 'unit-test-app-secret';
const sign = (raw: Buffer, secret = SECRET) => 'sha256=' + createHmac('sha256', secret).update(raw).digest('hex');
const files = fs.readdirSync(FIXTURES).filter((f) => f.endsWith('.json'));

describe('verifySignature', () => {
  it('finds the fixtures', () => expect(files.length).toBeGreaterThanOrEqual(4));

  it.each(files)('%s: accepts the exact bytes, refuses alterations, wrong secrets and missing headers', (file) => {
    const raw = fs.readFileSync(path.join(FIXTURES, file));
    const header = sign(raw);
    expect(verifySignature(raw, header, SECRET)).toBe(true);
    expect(verifySignature(raw, header.toUpperCase().replace('SHA256=', 'sha256='), SECRET)).toBe(true);
    // re-serialised JSON is different bytes: the check is over what Meta sent, not what it means
    const reserialised = Buffer.from(JSON.stringify(JSON.parse(raw.toString('utf8'))));
    expect(verifySignature(reserialised, header, SECRET)).toBe(false);
    const altered = Buffer.from(raw);
    const at = altered.length - 2;
    altered.writeUInt8(altered.readUInt8(at) ^ 1, at);
    expect(verifySignature(altered, header, SECRET)).toBe(false);
    expect(verifySignature(raw, sign(raw, 'another-secret'), SECRET)).toBe(false);
    expect(verifySignature(raw, undefined, SECRET)).toBe(false);
    expect(verifySignature(raw, '', SECRET)).toBe(false);
    expect(verifySignature(raw, header.slice('sha256='.length), SECRET)).toBe(false);
    expect(verifySignature(raw, 'sha1=' + header.slice('sha256='.length), SECRET)).toBe(false);
    expect(verifySignature(raw, header.slice(0, -2), SECRET)).toBe(false);
    expect(verifySignature(raw, header, '')).toBe(false);
  });
});
