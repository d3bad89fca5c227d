// The live page under its security headers, opened as the operator does from another machine: the address binbridge
// prints (token in the fragment) on this machine's network address, so every API call and the event stream need the
// token the page took from it. A Content-Security-Policy that allows exactly what the page loads: no violation, the
// map tiles still requested, the page never framed. /docs (Swagger UI) renders under its own policy.
import os from 'node:os';
import type { Browser, BrowserContext, Page, Response } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectClient, publishAcked, startBridge, type InProcessBridge } from '../helpers/bridge.js';
import { binsOnMap, launchBrowser, openBinByLink, watchConsole, type ConsoleProblems } from '../helpers/browser.js';
import { waitFor } from '../helpers/wait.js';

const TILES = /tile\.openstreetmap\.org/;
const CHART_BIN = 'UTR-0003';

function networkAddress(): string {
  const found = Object.values(os.networkInterfaces())
    .flat()
    .find((i) => i && i.family === 'IPv4' && !i.internal);
  if (!found) throw new Error('this test needs a non-loopback IPv4 address on this machine (none in os.networkInterfaces())');
  return found.address;
}

/** Records every CSP violation the page reports, from the first script on. */
async function watchViolations(page: Page): Promise<void> {
  await page.addInitScript(() => {
    type Violation = Event & { effectiveDirective: string; blockedURI: string; sourceFile: string; lineNumber: number };
    const seen: string[] = [];
    Object.assign(globalThis, { __csp: seen });
    (globalThis as unknown as { document: EventTarget }).document.addEventListener('securitypolicyviolation', (event) => {
      const e = event as Violation;
      seen.push(`${e.effectiveDirective} ${e.blockedURI} (${e.sourceFile}:${e.lineNumber})`);
    });
  });
}
const violations = (page: Page): Promise<string[]> => page.evaluate(() => (globalThis as unknown as { __csp: string[] }).__csp);

const directives = (csp: string | undefined): Record<string, string> =>
  Object.fromEntries(
    (csp ?? '')
      .split(';')
      .map((d) => d.trim())
      .filter(Boolean)
      .map((d) => [d.split(/\s+/)[0]!, d.split(/\s+/).slice(1).join(' ')]),
  );

describe('the live page under its security headers', () => {
  let bridge: InProcessBridge;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let first: Response | null;
  let consoleProblems: ConsoleProblems;
  const tilesAsked: string[] = [];

  beforeAll(async () => {
    bridge = await startBridge({ BINBRIDGE_HTTP_HOST: '::', BINBRIDGE_MQTT_AUTH: 'none' });
    const c = await connectClient(bridge.mqttUrl, { clientId: 'csp-chart' });
    for (const [i, fill] of [20, 30].entries()) await publishAcked(c, `bins/${CHART_BIN}/telemetry`, { fill_pct: fill, ts: Date.now() - (2 - i) * 60_000 });
    c.end();
    browser = await launchBrowser();
    context = await browser.newContext({ viewport: { width: 1366, height: 768 } });
    page = await context.newPage();
    await watchViolations(page);
    // no network here: tiles are recorded (the policy let them through) and fail as they would offline
    await page.route(TILES, (route) => {
      tilesAsked.push(route.request().url());
      return route.abort('internetdisconnected');
    });
    consoleProblems = watchConsole(page, (msg) => TILES.test(msg.location().url ?? '') || (TILES.test(msg.text()) && /Failed to load/.test(msg.text())));
    first = await page.goto(`http://${networkAddress()}:${bridge.ports.http}/#token=${encodeURIComponent(bridge.apiToken.value)}`);
  });

  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await bridge?.stop();
  });

  it('is sent with a Content-Security-Policy that allows the bridge, the map tiles and nothing else, and may not be framed', () => {
    const headers = first!.headers();
    expect(directives(headers['content-security-policy'])).toEqual({
      'default-src': "'self'",
      'script-src': "'self'",
      'style-src': "'self'",
      'img-src': "'self' data: https://tile.openstreetmap.org",
      'connect-src': "'self'",
      'font-src': "'self'",
      'object-src': "'none'",
      'base-uri': "'none'",
      'form-action': "'self'",
      'frame-ancestors': "'none'",
    });
    expect(headers['x-frame-options']).toBe('DENY');
    expect(headers['x-content-type-options']).toBe('nosniff');
    // plain HTTP on a city's network: neither HSTS nor an upgrade of every load to https
    expect(headers['strict-transport-security']).toBeUndefined();
  });

  it('renders from another address with the printed address: the token from the fragment, live, every bin, a chart, no CSP violation', async () => {
    await page.locator('#conn[data-state="live"]').waitFor({ timeout: 15_000 });
    await waitFor(async () => (await binsOnMap(page)) === bridge.registry.size, { message: 'every bin on the map: a marker, or counted in a cluster' });
    await openBinByLink(page, CHART_BIN);
    await page.locator('#bin-card .bin-chart canvas').waitFor();
    await expect.poll(() => page.locator('#bin-card .chart-note').textContent()).toContain('2 readings');
    expect(page.url()).not.toContain('token');
    expect(await page.evaluate(() => (globalThis as unknown as { localStorage: { getItem: (k: string) => string | null } }).localStorage.getItem('binbridge.token'))).toBe(bridge.apiToken.value);
    expect(tilesAsked.length).toBeGreaterThan(0);
    expect(await violations(page)).toEqual([]);
    expect(consoleProblems.errors).toEqual([]);
  });

  it('/docs renders Swagger UI under its own policy, with no violation', async () => {
    const docs = await context.newPage();
    await watchViolations(docs);
    const problems = watchConsole(docs);
    const res = await docs.goto(`http://127.0.0.1:${bridge.ports.http}/docs`);
    await docs.locator('.opblock').first().waitFor({ timeout: 15_000 });
    const csp = directives(res!.headers()['content-security-policy']);
    expect(csp['frame-ancestors']).toBe("'none'");
    expect(csp['upgrade-insecure-requests']).toBeUndefined();
    expect(res!.headers()['x-frame-options']).toBe('DENY');
    expect(await violations(docs)).toEqual([]);
    expect(problems.errors).toEqual([]);
    await docs.close();
  });
});
