// The live page's Notices panel in headless Chromium: an operator composes a notice (kind, title, text, a zone
// from the list), counts its recipients with a dry run (Send stays off until then), sends it, and watches its
// funnel move as it is sent and a resident answers; the sandbox's resident phone shows the notice as it arrives.
import fs from 'node:fs';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBridge, type InProcessBridge } from '../helpers/bridge.js';
import { launchBrowser, watchConsole, type ConsoleProblems } from '../helpers/browser.js';
import { waitFor } from '../helpers/wait.js';

const TOKEN = 'notices-panel-token';
const RESIDENT = '31600000042'; // the sandbox's resident phone shows this number by default
const OTHER = '31600000043';
const ELSEWHERE = '31600000044';
const TILES = /tile\.openstreetmap\.org/;
const ARTIFACTS = path.resolve('test-artifacts');

describe('the Notices panel', () => {
  let bridge: InProcessBridge;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let consoleProblems: ConsoleProblems;
  const post = async (p: string, body: unknown): Promise<Response> =>
    fetch(`${bridge.httpUrl}/api${p}`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const subscribers = async () => ((await (await fetch(`${bridge.httpUrl}/api/subscriptions`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as { total: number }).total;
  const figure = (k: string) => page.locator(`.notices-list .notice >> nth=0 >> [data-figure="${k}"] b`);

  beforeAll(async () => {
    // no quiet hours: a service notice goes now, whatever the hour the test runs at
    bridge = await startBridge({ BINBRIDGE_MQTT_AUTH: 'none', BINBRIDGE_HTTP_API_TOKEN: TOKEN, BINBRIDGE_NOTICES_QUIET_HOURS: '00:00-00:00' });
    for (const [from, bin] of [
      [RESIDENT, 'UTR-0001'],
      [OTHER, 'UTR-0002'],
      [ELSEWHERE, 'UTR-0177'],
    ]) {
      expect((await post('/sandbox/inbound', { from, text: `subscribe ${bin}` })).status).toBeLessThan(300);
    }
    await waitFor(async () => (await subscribers()) === 3, { message: 'three subscribers' });
    browser = await launchBrowser();
    context = await browser.newContext({ viewport: { width: 1366, height: 900 } });
    page = await context.newPage();
    await page.route(TILES, (route) => route.abort('internetdisconnected'));
    consoleProblems = watchConsole(page, (msg) => TILES.test(msg.location().url ?? '') || (TILES.test(msg.text()) && /Failed to load/.test(msg.text())));
    await page.goto(`${bridge.httpUrl}/?token=${TOKEN}`);
  });

  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await bridge?.stop();
  });

  it('composes, counts with a dry run, sends, and shows the funnel moving; the resident phone shows the notice', async () => {
    const panel = page.locator('#notices-panel');
    await panel.locator('summary').click();
    await panel.locator('input[name=zone][value=centrum]').waitFor();
    await panel.locator('select[name=kind]').selectOption('service');
    await panel.locator('input[name=title]').fill('Glass collection');
    await panel.locator('textarea[name=text-en]').fill('Glass is collected on Thursday this week.');
    await panel.locator('textarea[name=text-nl]').fill('Glas wordt deze week op donderdag opgehaald.');
    await panel.locator('input[name=zone][value=centrum]').check();
    // no count yet: nothing to send
    expect(await panel.locator('button.notice-send').isDisabled()).toBe(true);
    await panel.locator('button.dry-run').click();
    await expect.poll(() => panel.locator('output.count').textContent()).toBe('2 residents in centrum');
    // an edit after the count asks for a new one
    await panel.locator('input[name=title]').fill('Glass collection moves');
    expect(await panel.locator('button.notice-send').isDisabled()).toBe(true);
    await panel.locator('button.dry-run').click();
    await expect.poll(() => panel.locator('button.notice-send').isDisabled()).toBe(false);
    await panel.locator('button.notice-send').click();

    const item = panel.locator('.notices-list .notice', { hasText: 'Glass collection moves' });
    await item.waitFor();
    await expect.poll(() => figure('targeted').textContent()).toBe('2');
    await expect.poll(() => figure('sent').textContent(), { timeout: 15_000 }).toBe('2');
    expect(await figure('replied').textContent()).toBe('0');
    // the sandbox's resident phone shows the notice as it arrives
    await page.locator('.phone-resident .bubble.in', { hasText: 'Glass is collected on Thursday this week.' }).waitFor({ timeout: 15_000 });
    // a resident answers: the funnel counts a reply
    expect((await post('/sandbox/inbound', { from: OTHER, text: 'Thanks!' })).status).toBeLessThan(300);
    await expect.poll(() => figure('replied').textContent(), { timeout: 15_000 }).toBe('1');
    expect(consoleProblems.errors).toEqual([]);
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    await panel.screenshot({ path: path.join(ARTIFACTS, 'notices-panel.png') });
  });

  it('says what is wrong with a notice the API refuses', async () => {
    const panel = page.locator('#notices-panel');
    // the composer folded away after the send
    expect(await panel.locator('details.compose-box').getAttribute('open')).toBeNull();
    await panel.locator('summary').click();
    await panel.locator('input[name=title]').fill('No text');
    await panel.locator('button.dry-run').click();
    await expect.poll(() => panel.locator('.error').textContent()).toMatch(/no text in any language/);
    expect(await panel.locator('button.notice-send').isDisabled()).toBe(true);
  });
});
