// Watches the bridge while it is fuzzed: /healthz (liveness), and /metrics for the resident set size and the
// event loop's worst delay. prom-client's `nodejs_eventloop_lag_max_seconds` is the maximum of a
// monitorEventLoopDelay histogram (10 ms resolution) that is reset on every collect, i.e. it is the worst delay
// since the previous scrape — so no block is missed as long as every scrape is seen. The HTTP target scrapes
// /metrics too; it hands what it gets to observe(), so its scrapes do not swallow a block.
import fs from 'node:fs';
import type { Bridge } from './bridge.js';
import type { Finding, Recent } from './stats.js';

export const RSS_METRIC = 'binbridge_process_resident_memory_bytes';
export const LAG_MAX_METRIC = 'binbridge_nodejs_eventloop_lag_max_seconds';

export interface MonitorLimits {
  /** the worst event-loop delay allowed, ms */
  lagMs: number;
  /** RSS bound = factor × RSS after warm-up + slack */
  rssFactor: number;
  rssSlackMb: number;
  /** /healthz must answer within this */
  healthTimeoutMs: number;
}

// /healthz is about being alive, not fast (the event-loop bound is about fast): a generous timeout keeps a busy
// machine from passing for a hung bridge
export const DEFAULT_LIMITS: MonitorLimits = { lagMs: 100, rssFactor: 2, rssSlackMb: 200, healthTimeoutMs: 20_000 };

/** A sample of one metric from Prometheus text (no labels). */
export function metricSample(text: string, name: string): number | undefined {
  const re = new RegExp(`^${name} (\\S+)$`, 'm');
  const m = re.exec(text);
  return m ? Number(m[1]) : undefined;
}

export interface LagEvent {
  at: number;
  /** prom-client's worst delay since the previous scrape */
  ms: number;
  /** how long the bridge's main thread waited for a CPU in that interval (another process had it) */
  runqMs: number;
  /** what the targets sent in the window before */
  recent: Recent[];
}

export class Monitor {
  private timer: NodeJS.Timeout | null = null;
  private healthTimer: NodeJS.Timeout | null = null;
  private lastScrape = Date.now();
  baselineRss: number | null = null;
  maxRss = 0;
  maxLagMs = 0;
  /** the worst delay less the time the thread waited for a CPU: what the bridge itself blocked */
  maxBlockedMs = 0;
  scrapes = 0;
  private lastRunqNs: number | null = null;
  healthChecks = 0;
  readonly lagEvents: LagEvent[] = [];
  readonly findings: Finding[] = [];
  private rssReported = false;
  private healthFailures = 0;
  private scraping = false;

  constructor(
    private readonly bridge: Bridge,
    private readonly limits: MonitorLimits,
    private readonly recent: (since: number) => Recent[],
    private readonly phase: string,
  ) {}

  /** Scrapes once to reset the histogram after start-up; the RSS then is the baseline of the memory bound. */
  async warmUp(): Promise<void> {
    const text = await this.fetchMetrics();
    this.lastScrape = Date.now();
    const rss = metricSample(text, RSS_METRIC);
    if (rss === undefined) throw new Error(`${RSS_METRIC} missing from /metrics`);
    this.baselineRss = rss;
    this.maxRss = rss;
    this.lastRunqNs = this.runqueueNs();
  }

  get rssBound(): number {
    return (this.baselineRss ?? 0) * this.limits.rssFactor + this.limits.rssSlackMb * 1024 * 1024;
  }

  start(intervalMs = 500): void {
    this.timer = setInterval(() => void this.scrape(), intervalMs);
    this.healthTimer = setInterval(() => void this.health(), intervalMs);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    if (this.healthTimer) clearInterval(this.healthTimer);
    this.timer = this.healthTimer = null;
    // a last scrape covers the time since the previous one
    if (this.bridge.alive) await this.scrape(true);
  }

  private async fetchMetrics(): Promise<string> {
    const res = await fetch(`${this.bridge.url}/metrics`, { signal: AbortSignal.timeout(10_000) });
    return res.text();
  }

  async scrape(force = false): Promise<void> {
    if ((this.scraping && !force) || !this.bridge.alive) return;
    this.scraping = true;
    try {
      this.observe(await this.fetchMetrics());
    } catch {
      // the health probe reports an unanswering bridge
    } finally {
      this.scraping = false;
    }
  }

  /** Takes one /metrics text, from this monitor or from the HTTP target's own requests. */
  observe(text: string): void {
    const now = Date.now();
    const since = this.lastScrape;
    this.lastScrape = now;
    this.scrapes++;
    const rss = metricSample(text, RSS_METRIC);
    const lagS = metricSample(text, LAG_MAX_METRIC);
    if (rss !== undefined) {
      this.maxRss = Math.max(this.maxRss, rss);
      if (this.baselineRss !== null && rss > this.rssBound && !this.rssReported) {
        this.rssReported = true;
        this.findings.push({
          check: 'memory',
          phase: this.phase,
          message: `RSS ${mb(rss)} MB exceeds the bound ${mb(this.rssBound)} MB (${this.limits.rssFactor} × ${mb(this.baselineRss)} MB after warm-up + ${this.limits.rssSlackMb} MB)`,
          input: summarizeRecent(this.recent(now - 10_000)),
        });
      }
    }
    const runqNs = this.runqueueNs();
    const runqMs = runqNs === null || this.lastRunqNs === null ? 0 : (runqNs - this.lastRunqNs) / 1e6;
    if (runqNs !== null) this.lastRunqNs = runqNs;
    if (lagS !== undefined && Number.isFinite(lagS)) {
      const ms = lagS * 1000;
      this.maxLagMs = Math.max(this.maxLagMs, ms);
      // on a shared machine a thread that waits for a CPU shows as a late timer too: that part is not a block.
      // (Summed over the whole interval, so under load this forgives more than it should; on an idle machine
      // the wait is ~0 and the delay counts in full.)
      const blocked = ms - runqMs;
      this.maxBlockedMs = Math.max(this.maxBlockedMs, blocked);
      if (blocked > this.limits.lagMs) {
        const event = { at: now, ms, runqMs, recent: this.recent(since - 3000) };
        if (this.lagEvents.length < 50) this.lagEvents.push(event);
        else this.moreLagEvents++;
      }
    }
  }

  private probing = false;

  private async health(): Promise<void> {
    if (!this.bridge.alive || this.probing) return;
    this.probing = true;
    try {
      await this.probe();
    } finally {
      this.probing = false;
    }
  }

  private async probe(): Promise<void> {
    this.healthChecks++;
    const t = performance.now();
    try {
      const res = await fetch(`${this.bridge.url}/healthz`, { signal: AbortSignal.timeout(this.limits.healthTimeoutMs) });
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`status ${res.status}`);
    } catch (err) {
      if (!this.bridge.alive) return; // the crash itself is reported by the run
      // once more on a fresh connection before calling it: a stall of this process (not the bridge) can eat a timeout
      const again = await fetch(`${this.bridge.url}/healthz`, { signal: AbortSignal.timeout(this.limits.healthTimeoutMs), headers: { connection: 'close' } })
        .then(async (r) => (await r.arrayBuffer(), r.status === 200))
        .catch(() => false);
      if (again || !this.bridge.alive) return;
      this.healthFailures++;
      if (this.healthFailures <= 3) {
        this.findings.push({
          check: 'liveness',
          phase: this.phase,
          message: `/healthz did not answer 200 within ${this.limits.healthTimeoutMs} ms, twice (${(err as Error).message}, after ${Math.round(performance.now() - t)} ms in all)`,
          input: summarizeRecent(this.recent(Date.now() - 10_000)),
        });
      }
    }
  }

  moreLagEvents = 0;

  /** Time the bridge's main thread spent runnable but waiting for a CPU (schedstat), ns; null where not readable. */
  private runqueueNs(): number | null {
    const pid = this.bridge.pid;
    if (pid === undefined) return null;
    try {
      return Number(fs.readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').split(' ')[1]);
    } catch {
      return null;
    }
  }

  /** Peak RSS of the process from /proc (VmHWM), in bytes: a spike between scrapes shows here. */
  peakRss(): number | null {
    try {
      const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(fs.readFileSync(`/proc/${this.bridge.pid}/status`, 'utf8'));
      return m ? Number(m[1]) * 1024 : null;
    } catch {
      return null;
    }
  }
}

export const mb = (bytes: number): number => Math.round(bytes / 1024 / 1024);

/**
 * How likely an input is to be what blocked the loop, by what its summary says: long words and long texts (the
 * matcher), huge, deep or bins-file bodies (parsers), many packets. 0 for the rest.
 */
export function suspicion(r: Recent): number {
  const s = r.summary;
  const chars = /\((\d+) chars(, one word)?\)/.exec(s);
  if (chars) return Number(chars[1]) * (chars[2] ? 4 : 1);
  const bytes = /body: \w+ (\d+) B/.exec(s);
  if (bytes) return Number(bytes[1]) / 100;
  const deep = /nested (\d+) deep/.exec(s);
  if (deep) return Number(deep[1]) / 10;
  if (/\/api\/bins\/import|text\/csv|geo\+json|ld\+json/.test(s)) return 500;
  return 0;
}

/** The likeliest culprits first (see suspicion), then the last inputs before the event. */
export function summarizeSuspects(recent: Recent[], max = 10): string {
  const suspects = recent
    .filter((r) => suspicion(r) >= 1000)
    .sort((a, b) => suspicion(b) - suspicion(a))
    .slice(0, 4);
  const last = recent.filter((r) => !suspects.includes(r)).slice(-(max - suspects.length));
  return [...(suspects.length ? ['likeliest:', ...suspects.map(line)] : []), 'last before:', ...last.map(line)].join('\n');
}

const line = (r: Recent): string => `${new Date(r.at).toISOString().slice(11, 23)} ${r.target}: ${r.summary}`;

export function summarizeRecent(recent: Recent[], max = 12): string {
  return recent
    .slice(-max)
    .map((r) => `${new Date(r.at).toISOString().slice(11, 23)} ${r.target}: ${r.summary}`)
    .join('\n');
}
