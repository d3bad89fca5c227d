import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PAGE_CSP, TILE_ORIGIN } from '../../../src/http/routes/live.js';

describe("the page's Content-Security-Policy", () => {
  it('allows the origin of every tile layer web/map.js draws, and no other outside origin', () => {
    const map = fs.readFileSync('web/map.js', 'utf8');
    const tileOrigins = [...map.matchAll(/tileLayer\(\s*'([^']+)'/g)].map((m) => new URL(m[1]!.replace(/\{[a-z]\}/g, '0')).origin);
    expect(tileOrigins.length).toBeGreaterThan(0);
    for (const origin of tileOrigins) expect(PAGE_CSP.imgSrc).toContain(origin);
    expect(PAGE_CSP.imgSrc).toEqual(["'self'", 'data:', TILE_ORIGIN]);
    const outside = Object.values(PAGE_CSP)
      .flat()
      .filter((source) => !source.startsWith("'") && source !== 'data:');
    expect(outside).toEqual([TILE_ORIGIN]);
  });
});
