// One fuzz run: the decoders first (in this process, before any bridge runs, so they cannot distort it), then
// two phases with a fresh bridge each — mqtt.auth devices (with an API token) and mqtt.auth none (without) —
// where the network targets run side by side while a good device publishes and a monitor watches. Every phase
// ends with the checks that hold for the bridge as a whole. The report says what was sent, what came back,
// and every defect seen, with the input where one input did it.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Bridge, cityBins, type AuthMode } from './bridge.js';
import { GoodDevice } from './good-device.js';
import { DEFAULT_LIMITS, mb, Monitor, summarizeRecent, summarizeSuspects, type MonitorLimits } from './monitor.js';
import { clip, TargetStats, TARGETS, type Finding, type Recent, type TargetName } from './stats.js';
import { chatContext, fuzzChat } from './targets/chat.js';
import { fuzzDecoders } from './targets/decoders.js';
import { fuzzHttp, loadRoutes, prepareHugeBodies, type HttpContext } from './targets/http.js';
import { fuzzMqtt } from './targets/mqtt.js';
import type { ScriptContext } from './targets/mqtt-packets.js';
import type { NetworkTarget } from './targets/network.js';
import { fuzzWebhook } from './targets/webhook.js';

export interface FuzzOptions {
  /** inputs in all, shared by the targets by weight */
  count: number;
  /** at most this many seconds of sending (bridge start-ups and the checks at the end of each phase come on top) */
  seconds: number;
  seed: number;
  only: TargetName[];
  keepTemp?: boolean;
  limits?: Partial<MonitorLimits>;
  /** the good device's readings per second */
  goodRate?: number;
  /** progress lines (stderr in the CLI) */
  log?: (line: string) => void;
  /** send just one input again (as a finding's `at` names it) to a fresh bridge of its phase, and watch */
  replay?: { target: Exclude<TargetName, 'decoders'>; phase: 'auth-devices' | 'auth-none'; index: number };
}

/** Shares of the count; the network targets' shares are split between the two phases. */
export const WEIGHTS: Record<TargetName, number> = { mqtt: 30, decoders: 30, http: 20, webhook: 10, chat: 10 };
const CONCURRENCY: Record<Exclude<TargetName, 'decoders'>, number> = { mqtt: 96, http: 8, webhook: 2, chat: 4 };
const NETWORK = ['mqtt', 'http', 'webhook', 'chat'] as const;

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

export interface PhaseReport {
  name: string;
  auth: AuthMode;
  seconds: number;
  /** the part of `seconds` the targets were sending */
  sendingSeconds: number;
  rss: { baselineMb: number | null; maxMb: number; boundMb: number; peakMb: number | null };
  maxLagMs: number;
  /** maxLagMs less the time the thread waited for a CPU */
  maxBlockedMs: number;
  lagEvents: number;
  scrapes: number;
  /** this process's event-loop delay, p99: high means the fuzzer, not the bridge, set the pace */
  fuzzerLoopP99Ms: number;
  good: { sent: number; acked: number; stored: number | null; missing: number | null; maxAckMs: number; disconnects: number };
  inbox: { pending: number; failed: number } | null;
  exit: { code: number | null; signal: string | null; forced: boolean } | null;
  errorLogLines: string[];
}

export interface FuzzReport {
  ok: boolean;
  seed: number;
  requested: number;
  inputs: number;
  seconds: number;
  inputsPerS: number;
  targets: object[];
  phases: PhaseReport[];
  checks: Check[];
  findings: Finding[];
  /** a replay's input in full and what came back */
  replayed?: string[];
  summary: string;
}

/** How many inputs each target gets. */
export function budgets(count: number, only: readonly TargetName[]): Record<TargetName, number> {
  const total = only.reduce((s, t) => s + WEIGHTS[t], 0);
  const out = Object.fromEntries(TARGETS.map((t) => [t, 0])) as Record<TargetName, number>;
  for (const t of only) out[t] = Math.round((count * WEIGHTS[t]) / total);
  return out;
}

export async function runFuzz(opts: FuzzOptions): Promise<FuzzReport> {
  const log = opts.log ?? (() => undefined);
  const limits: MonitorLimits = { ...DEFAULT_LIMITS, ...opts.limits };
  const started = Date.now();
  const plan = budgets(opts.count, opts.only);
  const stats = Object.fromEntries(TARGETS.map((t) => [t, new TargetStats(t)])) as Record<TargetName, TargetStats>;
  const findings: Finding[] = [];
  const checks: Check[] = [];
  const phases: PhaseReport[] = [];
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'binbridge-fuzz-'));
  const bridges: Bridge[] = [];
  // whatever way this process ends, the bridges go with it (and their folders, unless asked to keep them)
  const killAll = (): void => {
    bridges.forEach((b) => b.kill());
    if (!opts.keepTemp) fs.rmSync(tmp, { recursive: true, force: true });
  };
  process.once('exit', killAll);
  log(`seed ${opts.seed}; ${opts.count} inputs (${opts.only.map((t) => `${t} ${plan[t]}`).join(', ')}); at most ${opts.seconds} s of sending; temp ${tmp}`);

  try {
    const networkOn = NETWORK.some((t) => plan[t] > 0);
    if (plan.http > 0) prepareHugeBodies();
    if (plan.decoders > 0 && !opts.replay) {
      // a share of the time, so the network targets keep theirs
      const until = started + opts.seconds * 1000 * (networkOn ? 0.2 : 1);
      fuzzDecoders(stats.decoders, opts.seed, plan.decoders, until);
      log(`decoders: ${stats.decoders.inputs} inputs in ${stats.decoders.seconds.toFixed(1)} s, ${stats.decoders.findings.length} finding(s)`);
    }
    if (opts.replay) {
      const r = opts.replay;
      stats[r.target].captureFull = true;
      const report = await runPhase({
        auth: r.phase === 'auth-devices' ? 'devices' : 'none',
        tmp,
        seed: opts.seed,
        share: (t) => (t === r.target ? r.index + 1 : 0),
        first: (t) => (t === r.target ? r.index : 0),
        concurrency: () => 1,
        budgetMs: opts.seconds * 1000,
        settleMs: 3000,
        stats,
        limits,
        goodRate: opts.goodRate ?? 20,
        log,
        bridges,
        findings,
      });
      phases.push(report);
    } else if (networkOn) {
      // --seconds counts sending time only: each phase's window opens after its bridge started and warmed up
      let remainingMs = Math.max(1000, opts.seconds * 1000 - (Date.now() - started));
      const modes: AuthMode[] = ['devices', 'none'];
      for (const [k, auth] of modes.entries()) {
        const budgetMs = k === 0 ? remainingMs / 2 : remainingMs;
        const share = (t: TargetName): number => (k === 0 ? Math.ceil(plan[t] / 2) : Math.floor(plan[t] / 2));
        const report = await runPhase({ auth, tmp, seed: opts.seed, share, first: () => 0, concurrency: (t) => CONCURRENCY[t], budgetMs, settleMs: 0, stats, limits, goodRate: opts.goodRate ?? 20, log, bridges, findings });
        remainingMs = Math.max(1000, remainingMs - report.sendingSeconds * 1000);
        phases.push(report);
      }
    }
  } finally {
    killAll();
    process.removeListener('exit', killAll);
    if (opts.keepTemp) log(`temp folder kept: ${tmp}`);
  }

  for (const t of TARGETS) findings.push(...stats[t].findings);
  // the checks the issue names, each with what decides it
  const byCheck = (pred: (f: Finding) => boolean): Finding[] => findings.filter(pred);
  const add = (name: string, fs_: Finding[], okDetail: string): void => {
    checks.push({ name, ok: fs_.length === 0, detail: fs_.length === 0 ? okDetail : `${fs_.length} finding(s): ${clip(fs_[0]!.message, 200)}` });
  };
  const anyPhase = phases.length > 0;
  if (anyPhase) {
    add('no crash', byCheck((f) => f.check === 'crash' || f.check === 'liveness'), `the bridge answered /healthz throughout (${phases.length} phases)`);
    add('bounded memory', byCheck((f) => f.check === 'memory'), phases.map((p) => `${p.name}: max ${p.rss.maxMb} MB ≤ ${p.rss.boundMb} MB`).join('; '));
    add('event loop never blocked past ' + limits.lagMs + ' ms', byCheck((f) => f.check === 'event_loop'), phases.map((p) => `${p.name}: max ${p.maxBlockedMs} ms blocked (${p.maxLagMs} ms late timers)`).join('; '));
    add('valid devices still acknowledged', byCheck((f) => f.check === 'good_device'), phases.map((p) => `${p.name}: ${p.good.acked}/${p.good.sent} acknowledged, slowest ${p.good.maxAckMs.toFixed(0)} ms`).join('; '));
    add('every acknowledged reading stored', byCheck((f) => f.check === 'stored'), phases.map((p) => `${p.name}: ${p.good.stored ?? '?'} stored of ${p.good.acked} acknowledged`).join('; '));
    add('the inbox keeps draining', byCheck((f) => f.check.startsWith('inbox')), phases.map((p) => `${p.name}: ${p.inbox?.pending ?? '?'} pending, ${p.inbox?.failed ?? '?'} failed at the end`).join('; '));
    add('clean shutdown', byCheck((f) => f.check === 'shutdown'), 'SIGTERM → exit 0');
  }
  for (const t of opts.only) {
    add(`${t}: oracles`, stats[t].findings, `${stats[t].inputs} inputs, no finding`);
  }

  const inputs = TARGETS.reduce((s, t) => s + stats[t].inputs, 0);
  const seconds = (Date.now() - started) / 1000;
  const ok = findings.length === 0;
  // a run stopped by --seconds says so: it passed on fewer inputs than asked for
  const short = !opts.replay && inputs < opts.count ? ` (of ${opts.count.toLocaleString('en')} asked: stopped by --seconds ${opts.seconds})` : '';
  const summary = `fuzz: ${ok ? 'PASS' : 'FAIL'} — ${inputs.toLocaleString('en')} inputs${short} in ${seconds.toFixed(0)} s (${Math.round(inputs / seconds)}/s), seed ${opts.seed}: ${opts.only
    .map((t) => `${t} ${stats[t].inputs}`)
    .join(', ')}; ${checks.filter((c) => !c.ok).length} of ${checks.length} checks failed, ${findings.length} finding(s)`;
  return {
    ok,
    seed: opts.seed,
    requested: opts.count,
    inputs,
    seconds: Math.round(seconds * 10) / 10,
    inputsPerS: Math.round(inputs / seconds),
    targets: opts.only.map((t) => stats[t].toJSON()),
    phases,
    checks,
    findings,
    ...(opts.replay ? { replayed: stats[opts.replay.target].full } : {}),
    summary,
  };
}

interface PhaseArgs {
  auth: AuthMode;
  tmp: string;
  seed: number;
  share: (t: TargetName) => number;
  first: (t: TargetName) => number;
  concurrency: (t: Exclude<TargetName, 'decoders'>) => number;
  /** how long this phase may send, from the end of its warm-up */
  budgetMs: number;
  /** a pause after the last input, before the checks (a replay waits for what the input set off) */
  settleMs: number;
  stats: Record<TargetName, TargetStats>;
  limits: MonitorLimits;
  goodRate: number;
  log: (line: string) => void;
  bridges: Bridge[];
  findings: Finding[];
}

async function runPhase(a: PhaseArgs): Promise<PhaseReport> {
  const t0 = Date.now();
  const bins = cityBins();
  const goodBin = bins[0]!;
  const fuzzDevices = bins.slice(1, 21);
  const apiToken = a.auth === 'devices' ? `fuzz-token-${a.seed}` : '';
  const bridge = new Bridge({ auth: a.auth, apiToken, tmp: a.tmp, provision: a.auth === 'devices' ? [goodBin, ...fuzzDevices] : [], maxPacketBytes: 8192 });
  a.bridges.push(bridge);
  const phase = bridge.name;
  const found = (f: Finding): void => void a.findings.push({ ...f, phase });
  const recent = (since: number): Recent[] =>
    Object.values(a.stats)
      .flatMap((s) => s.recentSince(since))
      .sort((x, y) => x.at - y.at);

  a.log(`${phase}: starting the bridge`);
  await bridge.start();
  a.log(`${phase}: bridge up (mqtt ${bridge.mqttPort}, http ${bridge.httpPort}) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  const good = new GoodDevice({
    url: `mqtt://127.0.0.1:${bridge.mqttPort}`,
    bin: goodBin,
    clientId: a.auth === 'devices' ? goodBin : `fuzz-good-${a.seed}`,
    username: a.auth === 'devices' ? goodBin : undefined,
    password: a.auth === 'devices' ? bridge.secrets[goodBin] : undefined,
    ratePerS: a.goodRate,
    // all acknowledged in the end is the property; this bound catches a device left waiting (slowness as such is
    // the event-loop check's)
    ackTimeoutMs: 30_000,
    phase,
  });
  await good.start();
  const monitor = new Monitor(bridge, a.limits, recent, phase);
  const knownBins = new Set(bins);
  const registeredBins = async (): Promise<Set<string>> => {
    const ids = new Set<string>();
    let next: string | null = null;
    do {
      const res = await fetch(`${bridge.url}/api/bins?limit=1000${next ? `&cursor=${encodeURIComponent(next)}` : ''}`, { headers: apiToken ? { authorization: `Bearer ${apiToken}` } : {} });
      const page = (await res.json()) as { items: { id: string }[]; next: string | null };
      for (const b of page.items) ids.add(b.id);
      next = page.next;
    } while (next);
    return ids;
  };
  // the inbox's backlog, read beside the bridge from its SQLite file a few times a second
  let pending = 0;
  const readBacklog = (): void => {
    try {
      pending = bridge.inboxBacklog().pending;
    } catch {
      /* the table appears with the first start; a locked read is retried on the next tick */
    }
  };
  readBacklog();
  const backlogTimer = setInterval(readBacklog, 250);

  let sendingSeconds = 0;
  let crashNoted = false;
  const noteCrash = (): void => {
    if (crashNoted || !bridge.crashed) return;
    crashNoted = true;
    found({
      check: 'crash',
      message: `the bridge exited (code ${bridge.exit?.code}, signal ${bridge.exit?.signal}) while being fuzzed; log tail:\n${bridge.logTail(2500)}`,
      input: summarizeRecent(recent((bridge.exit?.at ?? Date.now()) - 5000), 20),
    });
  };
  const crashWatch = setInterval(noteCrash, 200);
  const selfLag = monitorEventLoopDelay({ resolution: 20 });

  try {
    // warm-up: the good device's first readings through, the routes read, then the baseline
    const warm = Date.now() + 20_000;
    while (good.acked.length < 20 && Date.now() < warm) await new Promise((r) => setTimeout(r, 50));
    const routes = await loadRoutes(bridge.url);
    const services = (await (await fetch(`${bridge.url}/open311/v2/services.json`)).json()) as { service_code: string }[];
    const httpCtx: HttpContext = {
      apiToken,
      open311Key: bridge.config.open311Key,
      // not the good device's bin: DELETE /api/bins/{id} would remove it, and its readings with it
      bins: bins.filter((b) => b !== goodBin).slice(0, 40),
      zones: ['centrum', 'noordoost', 'oost', 'zuid', 'west', 'noordwest', 'leidsche-rijn', 'fuzz-zone'],
      crews: ['crew-north', 'crew-south', 'crew-night', 'fuzz-crew'],
      serviceCodes: services.map((s) => s.service_code),
    };
    const sctx: ScriptContext = {
      auth: a.auth,
      devices: fuzzDevices.map((bin) => ({ bin, secret: bridge.secrets[bin] ?? '' })),
      bins,
      goodClientId: a.auth === 'devices' ? goodBin : `fuzz-good-${a.seed}`,
      goodBin,
      maxPacketBytes: 8192,
      nowMs: Date.now(),
    };
    await monitor.warmUp();
    monitor.start();
    a.log(`${phase}: warm-up done, RSS ${mb(monitor.baselineRss ?? 0)} MB (bound ${mb(monitor.rssBound)} MB); ${routes.length} routes; fuzzing`);

    const sendingFrom = Date.now();
    const deadline = sendingFrom + a.budgetMs;
    const target = (t: Exclude<TargetName, 'decoders'>): NetworkTarget => ({
      bridge,
      phase,
      seed: a.seed,
      stats: a.stats[t],
      first: a.first(t),
      budget: a.share(t),
      deadline,
      concurrency: a.concurrency(t),
      knownBins,
      registeredBins,
      observeMetrics: (text) => monitor.observe(text),
      inboxPending: () => pending,
    });
    // this process's own loop: when it lags, the fuzzer (not the bridge) is the bottleneck
    selfLag.enable();
    const progress = setInterval(() => {
      a.log(
        `${phase}: ${NETWORK.map((t) => `${t} ${a.stats[t].inputs}`).join(', ')}; bridge RSS max ${mb(monitor.maxRss)} MB, loop max ${monitor.maxBlockedMs.toFixed(0)} ms; ` +
          `inbox ${pending}; good ${good.acked.length}/${good.sent}; fuzzer loop p99 ${(selfLag.percentile(99) / 1e6).toFixed(0)} ms`,
      );
    }, 10_000);
    try {
      await Promise.all([
        a.share('mqtt') > 0 ? fuzzMqtt(target('mqtt'), sctx) : undefined,
        a.share('http') > 0 ? fuzzHttp(target('http'), httpCtx, routes) : undefined,
        a.share('webhook') > 0 ? fuzzWebhook(target('webhook')) : undefined,
        a.share('chat') > 0 ? fuzzChat(target('chat'), chatContext()) : undefined,
      ]);
    } finally {
      clearInterval(progress);
      selfLag.disable();
      sendingSeconds = (Date.now() - sendingFrom) / 1000;
    }
    if (a.settleMs > 0) await new Promise((r) => setTimeout(r, a.settleMs));
    a.log(`${phase}: inputs sent; waiting for the inbox to drain (${pending} pending)`);

    // the inbox drains: every message handled, none stuck
    let last = pending;
    let movedAt = Date.now();
    while (bridge.alive && pending > 0) {
      await new Promise((r) => setTimeout(r, 250));
      if (pending < last) movedAt = Date.now();
      last = pending;
      if (Date.now() - movedAt > 30_000) {
        found({ check: 'inbox_stalled', message: `the inbox kept ${pending} message(s) waiting and did not move for 30 s after the last input`, input: summarizeRecent(recent(Date.now() - 40_000)) });
        break;
      }
    }
  } finally {
    clearInterval(backlogTimer);
  }

  let inbox: { pending: number; failed: number } | null = null;
  try {
    inbox = bridge.inboxBacklog();
    if (inbox.failed > 0) {
      found({
        check: 'inbox_failed',
        message: `${inbox.failed} inbound message(s) set aside after their handlers failed 3 times: ${bridge
          .inboxFailures()
          .map((f) => `${f.n}× ${clip(f.error, 200)}`)
          .join('; ')}`,
      });
    }
  } catch (err) {
    a.log(`${phase}: could not read the inbox: ${(err as Error).message}`);
  }

  await good.stop(15_000);
  await monitor.stop();
  clearInterval(crashWatch);
  noteCrash();
  for (const f of [...good.findings, ...monitor.findings]) found(f);
  if (monitor.lagEvents.length > 0) {
    const worst = [...monitor.lagEvents].sort((x, y) => y.ms - y.runqMs - (x.ms - x.runqMs));
    const n = monitor.lagEvents.length + monitor.moreLagEvents;
    found({
      check: 'event_loop',
      message: `the event loop was blocked past ${a.limits.lagMs} ms in ${n} scrape interval(s); worst ${worst[0]!.ms.toFixed(0)} ms (prom-client's max since the previous scrape; the thread waited ${worst[0]!.runqMs.toFixed(0)} ms for a CPU in that interval)`,
      input: worst
        .slice(0, 3)
        .map((e) => `— ${e.ms.toFixed(0)} ms (${e.runqMs.toFixed(0)} ms of it maybe waiting for a CPU) at ${new Date(e.at).toISOString().slice(11, 23)}, inputs sent in the interval and the 3 s before:\n${summarizeSuspects(e.recent, 10)}`)
        .join('\n'),
    });
  }
  const peak = monitor.peakRss();
  const wasAlive = bridge.alive;
  const { exit, forced } = await bridge.stop(20_000);
  if (wasAlive && (forced || exit?.code !== 0)) {
    found({ check: 'shutdown', message: `SIGTERM: ${forced ? 'no exit within 20 s (killed)' : `exit code ${exit?.code}, signal ${exit?.signal}`}; log tail:\n${bridge.logTail(1500)}` });
  }

  // every acknowledged reading of the good device is in the store (the spool: InfluxDB was never reachable)
  let stored: number | null = null;
  let missing: number | null = null;
  try {
    const times = bridge.storedReadingTimes(goodBin);
    const lost = good.acked.filter((ts) => !times.has(ts));
    stored = good.acked.length - lost.length;
    missing = lost.length;
    if (lost.length > 0) {
      found({ check: 'stored', message: `${lost.length} of ${good.acked.length} acknowledged readings of ${goodBin} are not in the store, e.g. ts ${lost.slice(0, 5).join(', ')}` });
    }
  } catch (err) {
    found({ check: 'stored', message: `could not read the store: ${(err as Error).message}` });
  } finally {
    bridge.closeDb();
  }

  const errorLogLines = bridge.errorLines(40).filter((l) => !l.includes('influx write failed'));
  a.log(`${phase}: done in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  return {
    name: phase,
    auth: a.auth,
    seconds: Math.round((Date.now() - t0) / 100) / 10,
    sendingSeconds: Math.round(sendingSeconds * 10) / 10,
    rss: { baselineMb: monitor.baselineRss === null ? null : mb(monitor.baselineRss), maxMb: mb(monitor.maxRss), boundMb: mb(monitor.rssBound), peakMb: peak === null ? null : mb(peak) },
    maxLagMs: Math.round(monitor.maxLagMs),
    maxBlockedMs: Math.round(monitor.maxBlockedMs),
    lagEvents: monitor.lagEvents.length + monitor.moreLagEvents,
    scrapes: monitor.scrapes,
    fuzzerLoopP99Ms: Math.round(selfLag.percentile(99) / 1e6),
    good: { sent: good.sent, acked: good.acked.length, stored, missing, maxAckMs: Math.round(good.maxAckMs), disconnects: good.disconnects },
    inbox,
    exit: exit ? { code: exit.code, signal: exit.signal, forced } : null,
    errorLogLines: errorLogLines.slice(0, 10),
  };
}
