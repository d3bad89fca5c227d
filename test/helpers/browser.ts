// Headless Chromium for the live-page tests: Debian's chromium driven by playwright-core (no browser download).
import fs from 'node:fs';
import { chromium, type Browser, type ConsoleMessage, type Page } from 'playwright-core';

/** Debian's chromium; BB_CHROMIUM points elsewhere (another build of Chromium or Chrome). */
export const CHROMIUM = process.env.BB_CHROMIUM ?? '/usr/bin/chromium';

/** Launches headless Chromium with a fresh profile; fails with a clear message when it is not installed. */
export async function launchBrowser(): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(
      `Chromium not found at ${CHROMIUM}: the live-page tests need it. Install Debian's package (apt-get install chromium) ` +
        'as CI does, or set BB_CHROMIUM to a Chromium/Chrome binary.',
    );
  }
  // launch() gives every run its own temporary user data dir
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    chromiumSandbox: false, // as root, Chromium refuses to start with its sandbox
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}

export interface ConsoleProblems {
  /** console errors and uncaught page errors, except the ignored ones */
  readonly errors: string[];
}

/** Collects the page's console errors and uncaught exceptions; `ignore` drops expected ones (e.g. failed map tiles). */
export function watchConsole(page: Page, ignore: (msg: ConsoleMessage) => boolean = () => false): ConsoleProblems {
  const errors: string[] = [];
  page.on('console', (msg) => {
    if (msg.type() !== 'error' || ignore(msg)) return;
    const where = msg.location();
    errors.push(`${msg.text()}${where.url ? ` (${where.url}:${where.lineNumber})` : ''}`);
  });
  page.on('pageerror', (err) => errors.push(`uncaught: ${err.stack ?? err.message}`));
  return { errors };
}

// what the page functions below touch in the browser (the tests compile without the DOM library)
declare const document: { querySelectorAll(sel: string): ArrayLike<{ dataset: Record<string, string | undefined> }> & Iterable<{ dataset: Record<string, string | undefined> }> };
declare const window: { location: { hash: string } };

/** Bins on the live page's map: the markers shown plus the bins counted in the clusters shown. */
export function binsOnMap(page: Page): Promise<number> {
  return page.evaluate(() => {
    const clustered = [...document.querySelectorAll('.bin-cluster [data-count]')].reduce((n, el) => n + Number(el.dataset.count), 0);
    return clustered + document.querySelectorAll('.bin-marker').length;
  });
}

/** Opens a bin on the live page by its link (/#bin=ID): its card, and its marker shown, its cluster zoomed into. */
export async function openBinByLink(page: Page, bin: string): Promise<void> {
  await page.evaluate((id) => (window.location.hash = `bin=${id}`), bin);
}
