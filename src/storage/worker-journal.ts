import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { realClock, type Clock, type Timer } from '../clock.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { retryDelay } from '../retry.js';
import type { SpoolWriter } from './influx-writer.js';
import { ReadingEncoder, encodeRuleStates, type FromWorker, type JournalWorkerData, type ToWorker, type WorkerStatus } from './journal-protocol.js';
import { CommittedFeed } from './committed-feed.js';
import { StagedRuleStates, type TakeRuleStates } from './rule-state-table.js';
import { CommitPacer, PacedRun, observeAckDelays, spoolsPoints, type JournalBacklog, type JournalEntry, type ReadingJournal } from './reading-journal.js';
import { SpoolFullError, type Spool, type SpoolStats } from './spool.js';

/** A reading was not recorded because the journal worker died or is being restarted; the sender retries. */
export class JournalUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'JournalUnavailableError';
  }
}

/** The worker's settings (its log level comes from the logger) and the clock of the loop's side. */
export interface WorkerJournalOptions extends Omit<JournalWorkerData, 'logLevel'> {
  clock?: Clock;
}

interface Pending {
  entry: JournalEntry;
  at: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

interface Append {
  lines: string[];
  now: number;
  then: (() => void) | undefined;
}

// a worker that dies is started again after this backoff (wall time: the thread lives in it, whatever the clock)
const RESTART = { baseMs: 100, maxMs: 10_000, jitter: 'equal' } as const;

/** Starts journal-worker.ts: the built .js, or the .ts source through tsx when binbridge runs from source (tests, benches). */
function startWorker(data: JournalWorkerData): Worker {
  const here = import.meta.url;
  if (!here.endsWith('.ts')) return new Worker(new URL('./journal-worker.js', here), { workerData: data });
  // tsx's ESM entry (the require condition names its CommonJS twin, which cannot register hooks from here)
  const tsx = pathToFileURL(createRequire(here).resolve('tsx/esm/api').replace(/\.cjs$/, '.mjs')).href;
  const entry = new URL('./journal-worker.ts', here).href;
  const code = `import(${JSON.stringify(tsx)}).then(({ register }) => { register(); return import(${JSON.stringify(entry)}); });`;
  return new Worker(code, { eval: true, workerData: data });
}

/**
 * The journal in a worker thread (spool.journal: worker): the readings of a commit interval go to the worker in one
 * message (postSoon), the worker commits them (group commit, fsync) on its own SQLite connection and answers which
 * are durable; only then do their promises resolve (the PUBACK), and on the next turn the committed listeners (the
 * rules) run, here on the event loop. The spool and the InfluxDB writer live in the worker too, so their writes never
 * wait for the loop nor it for them; `spool` and `writer` here are views kept up to date by the worker's messages.
 *
 * A worker that dies takes nothing acknowledged with it: the readings it had not confirmed are refused (no PUBACK;
 * devices send them again), readings are refused while it restarts (with backoff), and /readyz says so.
 */
export class WorkerReadingJournal implements ReadingJournal {
  readonly spool: WorkerSpool | null;
  readonly writer: WorkerWriter | null;
  private worker: Worker | null = null;
  /** the bins' slots in `worker`: a new one knows none */
  private encoder = new ReadingEncoder();
  private state: 'idle' | 'starting' | 'ok' | 'restarting' | 'stopped' = 'idle';
  private queued: Pending[] = [];
  private inFlight: Pending[] = [];
  private head = 0;
  /** the next message to the worker (post), when postSoon set it */
  private readonly nextPost: PacedRun;
  /**
   * The worker's pace on this side: the next message waits delayMs after the worker's last answer. Wall time, as the
   * worker's own pacer: it paces the CPU's and the disk's work, not the city's, and simulated time never waits for it.
   */
  private readonly pacer: CommitPacer;
  private readonly feed: CommittedFeed;
  /** rule states for the worker's commits; they wait in the rules' store while the worker restarts */
  private readonly staged = new StagedRuleStates();
  private statesTimer: Timer | null = null;
  private nextId = 1;
  private readonly replies = new Map<number, () => void>();
  private readonly appends = new Map<number, Append>();
  private readonly once = new Map<'writerStopped' | 'closed', () => void>();
  private deaths = 0;
  private restartTimer: Timer | null = null;
  private readonly clock: Clock;

  constructor(
    private readonly opts: WorkerJournalOptions,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {
    this.clock = opts.clock ?? realClock;
    this.pacer = new CommitPacer(opts.delayMs, opts.groupTarget);
    this.nextPost = new PacedRun(realClock, () => this.post());
    this.feed = new CommittedFeed(log);
    this.spool = opts.influx ? new WorkerSpool((lines, then) => this.append(lines, then)) : null;
    this.writer = opts.influx ? new WorkerWriter((ms) => this.stopWriter(ms)) : null;
  }

  /** Starts the worker; rejects when it cannot open the store. */
  start(): Promise<void> {
    return this.spawn();
  }

  onCommitted(listener: (entries: JournalEntry[]) => unknown): void {
    this.feed.listen(listener);
  }

  record(entry: JournalEntry): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.state !== 'ok') throw new JournalUnavailableError(`journal worker ${this.state === 'restarting' ? 'restarting' : 'not running'}; reading not recorded`);
      if (spoolsPoints(entry)) this.spool?.assertRoom();
      this.queued.push({ entry, at: this.clock.now(), resolve, reject });
      this.postSoon();
    });
  }

  /** Sends what this turn received, waits until the worker committed everything it holds, runs its listeners, and has the rule states they staged stored. */
  async flush(): Promise<void> {
    this.post(true);
    await this.ask((id) => ({ t: 'flush', id }));
    this.feed.drain();
    await this.feed.settled();
    if (!this.staged.waiting) return;
    this.post(true);
    await this.ask((id) => ({ t: 'flush', id }));
  }

  stageRuleStates(take: TakeRuleStates): void {
    this.staged.add(take);
    this.postStatesWhenDue();
  }

  settled(): Promise<void> {
    return this.feed.settled();
  }

  backlog(): JournalBacklog {
    const oldest = this.inFlight[this.head] ?? this.queued[0];
    const state = this.state === 'ok' ? 'ok' : this.state === 'idle' || this.state === 'stopped' ? 'stopped' : 'restarting';
    return { readings: this.queued.length + this.inFlight.length - this.head, oldestMs: oldest?.at ?? null, state };
  }

  /** Closes the worker's store and ends it (after the writer's last chance, which the room gives first). */
  async close(): Promise<void> {
    const prev = this.state;
    this.state = 'stopped';
    this.restartTimer?.clear();
    this.statesTimer?.clear();
    const worker = this.worker;
    if (!worker) return;
    // a worker still starting (a restart) has nothing to close yet: it is ended as it is
    if (prev === 'ok') {
      await new Promise<void>((resolve) => {
        this.once.set('closed', resolve);
        this.send({ t: 'close' });
      });
    }
    await worker.terminate();
  }

  /** Test hook: the worker commits nothing more, so that what it takes is still held when it dies. */
  holdCommits(): void {
    this.send({ t: 'hold' });
  }

  /** Test hook: the worker throws an uncaught error, as a bug or a failed allocation in it would. */
  crashWorker(): void {
    this.send({ t: 'crash' });
  }

  private send(m: ToWorker): void {
    this.worker?.postMessage(m);
  }

  private ask(message: (id: number) => ToWorker): Promise<void> {
    if (!this.worker || this.state !== 'ok') return Promise.resolve();
    const id = this.nextId++;
    return new Promise<void>((resolve) => {
      this.replies.set(id, resolve);
      this.send(message(id));
    });
  }

  private stopWriter(deadlineMs: number): Promise<void> {
    if (!this.worker || this.state !== 'ok') return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.once.set('writerStopped', resolve);
      this.send({ t: 'stopWriter', deadlineMs });
    });
  }

  private append(lines: string[], then: (() => void) | undefined): void {
    const id = this.nextId++;
    const a = { lines, now: this.clock.now(), then };
    // kept until the worker confirms, and sent again to a worker that replaces one that died
    this.appends.set(id, a);
    if (this.state === 'ok') this.send({ t: 'append', id, now: a.now, lines });
  }

  /**
   * The readings go to the worker when its pacer would commit them. With `delayMs` (spool.commit_delay_ms) the
   * worker commits at most every delayMs after its last commit ended, so the readings of that time are sent together:
   * none while the worker holds some it has not answered, and after its answer not before delayMs has passed. A
   * reading that finds the worker idle and the last answer older than that goes on this turn's end. (One message a
   * turn, as without a delay, was 1,250 messages a second at 10,000 readings/s for some 300 commits; each woke the
   * worker: 5 µs a reading more, docs/performance.md.)
   */
  private postSoon(): void {
    // paced: the answer to what is in flight posts what waits (answered)
    if (this.opts.delayMs > 0 && this.inFlight.length > this.head) return;
    this.nextPost.within(this.pacer.waitMs(realClock.now(), this.queued.length));
  }

  /** The worker answered (committed or refused) a group: what waited for that answer goes when it may. */
  private answered(): void {
    this.pacer.ended(realClock.now());
    if (this.inFlight.length === this.head && (this.queued.length > 0 || this.staged.waiting)) this.postSoon();
  }

  /** Rule states with no reading to carry them go when they are due, in a message of their own. */
  private postStatesWhenDue(): void {
    if (this.statesTimer || !this.staged.waiting) return;
    this.statesTimer = this.clock.setTimeout(() => {
      this.statesTimer = null;
      this.postSoon();
    }, this.staged.dueIn(this.clock.now()));
  }

  /**
   * Sends the readings received since the last message, with the rule states when they are due (or `force`), when
   * postSoon says. (Without the pacer, holding the readings until the worker had answered the message before cost
   * them a hop and a turn, p99 PUBACK at 20,000/s 50 → 60–82 ms; with it they wait delayMs after a commit anyway.)
   */
  private post(force = false): void {
    const batch = this.queued;
    this.queued = [];
    if (!this.worker || this.state !== 'ok') {
      // staged rule states wait for the worker that replaces this one
      for (const p of batch) p.reject(new JournalUnavailableError('journal worker not running; reading not recorded'));
      return;
    }
    const now = this.clock.now();
    const rows = this.staged.take(now, force);
    if (this.staged.waiting) this.postStatesWhenDue();
    if (batch.length === 0 && rows.length === 0) return;
    this.send({ t: 'record', now, cols: this.encoder.encode(batch.map((p) => p.entry)), states: rows.length > 0 ? encodeRuleStates(rows) : null });
    for (const p of batch) this.inFlight.push(p);
  }

  /** The next n readings the worker was sent, in order. */
  private take(n: number): Pending[] {
    const group = this.inFlight.slice(this.head, this.head + n);
    this.head += n;
    if (this.head >= this.inFlight.length) {
      this.inFlight = [];
      this.head = 0;
    } else if (this.head > 4096) {
      this.inFlight = this.inFlight.slice(this.head);
      this.head = 0;
    }
    return group;
  }

  private apply(status: WorkerStatus): void {
    if (status.spool) this.spool?.update(status.spool);
    if (this.writer) this.writer.healthy = status.writerHealthy;
    const m = status.metrics;
    for (const s of m.commitSeconds) this.metrics.journalCommit.observe(s);
    for (const s of m.influxWriteSeconds) this.metrics.influxWrite.observe(s);
    if (m.influxPointsWritten > 0) this.metrics.influxPointsWritten.inc(m.influxPointsWritten);
    if (m.influxDeadLetters > 0) this.metrics.influxDeadLetters.inc(m.influxDeadLetters);
    for (const [code, n] of Object.entries(m.influxFailures)) this.metrics.influxFailures.inc({ code }, n);
  }

  private onMessage(m: FromWorker): void {
    switch (m.t) {
      case 'committed': {
        this.apply(m.status);
        const group = this.take(m.n);
        observeAckDelays(this.metrics.journalAckDelay, group, this.clock.now());
        for (const p of group) p.resolve();
        this.feed.push(group.map((p) => p.entry));
        this.answered();
        return;
      }
      case 'failed': {
        this.apply(m.status);
        const err = Object.assign(new Error(m.error.message), { name: m.error.name });
        for (const p of this.take(m.n)) p.reject(err);
        this.answered();
        return;
      }
      case 'appended':
        this.apply(m.status);
        this.appends.get(m.id)?.then?.();
        this.appends.delete(m.id);
        return;
      case 'flushed':
        this.replies.get(m.id)?.();
        this.replies.delete(m.id);
        return;
      case 'status':
        this.apply(m.status);
        return;
      case 'writerStopped':
      case 'closed':
        this.apply(m.status);
        this.once.get(m.t)?.();
        this.once.delete(m.t);
        return;
      case 'log':
        this.relog(m.line);
        return;
      case 'ready':
        return;
    }
  }

  /** A line of the worker's log, written by this thread's logger (its level, destination and redaction). */
  private relog(line: string): void {
    try {
      const { level, msg, ...fields } = JSON.parse(line) as { level: number; msg?: string } & Record<string, unknown>;
      const label = this.log.levels.labels[level] as 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'fatal' | undefined;
      if (label) this.log[label](fields, msg);
    } catch {
      this.log.warn({ line: line.slice(0, 500) }, 'journal worker wrote a log line that is no JSON');
    }
  }

  private spawn(): Promise<void> {
    const data: JournalWorkerData = {
      dataDir: this.opts.dataDir,
      sync: this.opts.sync,
      maxBatch: this.opts.maxBatch,
      delayMs: this.opts.delayMs,
      groupTarget: this.opts.groupTarget,
      spoolMaxBytes: this.opts.spoolMaxBytes,
      influx: this.opts.influx,
      logLevel: this.log.level,
    };
    const worker = startWorker(data);
    this.worker = worker;
    this.encoder = new ReadingEncoder();
    this.state = this.state === 'restarting' ? 'restarting' : 'starting';
    let lastError: Error | undefined;
    return new Promise<void>((resolve, reject) => {
      let ready = false;
      worker.on('message', (m: FromWorker) => {
        if (m.t !== 'ready') return this.onMessage(m);
        ready = true;
        if (this.state === 'stopped') return resolve();
        this.state = 'ok';
        this.apply(m.status);
        for (const [id, a] of this.appends) this.send({ t: 'append', id, now: a.now, lines: a.lines });
        if (this.staged.waiting) this.postStatesWhenDue();
        resolve();
      });
      worker.on('error', (err) => (lastError = err));
      worker.on('exit', (code) => {
        if (this.worker === worker) this.worker = null;
        if (!ready) {
          this.failPending(new JournalUnavailableError('journal worker did not start; reading not recorded'));
          reject(new Error(`journal worker did not start: ${lastError?.message ?? `exit code ${code}`}`, { cause: lastError }));
          return;
        }
        if (this.state === 'stopped') return;
        this.died(code, lastError);
      });
    });
  }

  /** Refuses what the worker had not confirmed (no PUBACK for it) and starts another. */
  private died(code: number, err: Error | undefined): void {
    this.state = 'restarting';
    const unconfirmed = this.queued.length + this.inFlight.length - this.head;
    this.failPending(new JournalUnavailableError('journal worker died before committing this reading; not recorded'));
    this.deaths++;
    this.metrics.journalWorkerRestarts.inc();
    this.log.error(
      { module: 'journal', err, code, unconfirmed, restart: this.deaths },
      'journal worker died; readings it had not committed are refused (no PUBACK, devices resend them) until it is restarted',
    );
    this.scheduleRestart();
  }

  private failPending(err: Error): void {
    const all = [...this.inFlight.slice(this.head), ...this.queued];
    this.inFlight = [];
    this.head = 0;
    this.queued = [];
    for (const p of all) p.reject(err);
    // nothing is left to wait for
    for (const done of this.replies.values()) done();
    this.replies.clear();
    for (const done of this.once.values()) done();
    this.once.clear();
  }

  private scheduleRestart(): void {
    this.restartTimer = realClock.setTimeout(() => {
      this.restartTimer = null;
      if (this.state === 'stopped') return;
      this.spawn().then(
        () => {
          this.log.warn({ module: 'journal', restarts: this.deaths }, 'journal worker restarted; readings are recorded again');
          this.deaths = 0;
        },
        (err: unknown) => {
          if (this.state === 'stopped') return;
          this.deaths++;
          this.log.error({ module: 'journal', err, restart: this.deaths }, 'journal worker could not be restarted; trying again');
          this.state = 'restarting';
          this.scheduleRestart();
        },
      );
    }, retryDelay(this.deaths, RESTART));
  }
}

/** The spool as the event loop sees it while it lives in the journal worker: counts from the worker's messages. */
export class WorkerSpool implements Spool {
  private last: SpoolStats = { depth: 0, bytes: 0, oldestMs: null, full: false };
  private soon: string[] = [];
  private afterSoon: (() => void) | undefined;

  constructor(private readonly post: (lines: string[], then: (() => void) | undefined) => void) {}

  update(stats: SpoolStats): void {
    this.last = stats;
  }

  get size(): number {
    return this.last.depth;
  }

  get full(): boolean {
    return this.last.full;
  }

  assertRoom(): void {
    if (this.last.full) throw new SpoolFullError(this.last.bytes);
  }

  /** Sends the points to the worker, which appends them in a transaction of their own. */
  append(lines: readonly string[]): void {
    this.post([...lines], undefined);
  }

  /** The points of one turn go to the worker in one message (one commit); `then` runs once it committed them. */
  appendSoon(lines: readonly string[], then?: () => void): void {
    if (this.soon.length === 0) setImmediate(() => this.flushSoon());
    for (const l of lines) this.soon.push(l);
    this.afterSoon = then ?? this.afterSoon;
  }

  flushSoon(): void {
    if (this.soon.length === 0) return;
    const lines = this.soon;
    const then = this.afterSoon;
    this.soon = [];
    this.afterSoon = undefined;
    this.post(lines, then);
  }

  stats(): SpoolStats {
    // as the worker last told (after each commit and append, and twice a second)
    return { ...this.last };
  }
}

/** The InfluxDB writer as the event loop sees it while it runs in the journal worker. */
export class WorkerWriter implements SpoolWriter {
  healthy: boolean | null = null;

  constructor(private readonly stopInWorker: (deadlineMs: number) => Promise<void>) {}

  /** The worker starts its writer when it starts. */
  start(): void {}

  /** The worker tells its writer after each commit. */
  notify(): void {}

  stop(deadlineMs = 5000): Promise<void> {
    return this.stopInWorker(deadlineMs);
  }
}
