import { realClock, type Clock, type Timer } from '../clock.js';
import type { Logger } from '../log.js';
import type { DeviceSecrets, SecretsChange } from './device-secrets.js';

/** What a session needs to be followed: the bin and secret record it logged in with, and a way to end it. */
export interface DeviceSession {
  readonly closed: boolean;
  login?: { binId: string; record: string; generation: number };
  close: () => void;
}

/**
 * The sessions of devices logged in with a secret, and whether that secret is still theirs. A revoke or a
 * rotation in this process (the admin API) ends the sessions of the old secret at once; one by another process
 * (the `devices` command, or another instance on the same PostgreSQL) is found by a look at the database every pollMs.
 * Before each reading a session compares a generation counter in memory; only after a change does it read
 * its bin's record, once.
 */
export class DeviceSessions<S extends DeviceSession> {
  private readonly sessions = new Set<S>();
  /** the last look at the database failed (PostgreSQL unreachable): said once, and again when it works */
  private failing = false;
  private timer: Timer | null = null;
  private unwatch: (() => void) | null = null;

  constructor(
    private readonly secrets: DeviceSecrets,
    private readonly onStale: (session: S) => void,
    private readonly log: Logger,
    private readonly pollMs = 1000,
    private readonly clock: Clock = realClock,
  ) {}

  start(): void {
    this.unwatch = this.secrets.onChange((change) => this.guard('end stale sessions', () => this.endStale(change)));
    this.timer = this.clock.setInterval(() => this.look(), this.pollMs).unref();
  }

  stop(): void {
    this.timer?.clear();
    this.timer = null;
    this.unwatch?.();
    this.unwatch = null;
  }

  /** The generation to give login() for a secret about to be verified: a change during verification is caught. */
  get generation(): number {
    return this.secrets.generation;
  }

  login(session: S, binId: string, record: string, generation: number): void {
    session.login = { binId, record, generation };
  }

  add(session: S): void {
    if (session.login) this.sessions.add(session);
  }

  delete(session: S): void {
    this.sessions.delete(session);
  }

  /** Open sessions of a bin. */
  count(binId: string): number {
    let n = 0;
    for (const s of this.sessions) if (!s.closed && s.login?.binId === binId) n++;
    return n;
  }

  /** Is the secret this session logged in with still its bin's secret? (true for sessions without one) */
  current(session: S): boolean {
    const login = session.login;
    if (!login || login.generation === this.secrets.generation) return true;
    if (this.secrets.record(login.binId) !== login.record) return false;
    login.generation = this.secrets.generation;
    return true;
  }

  private endStale(change: SecretsChange): void {
    for (const s of this.sessions) {
      if (s.closed) this.sessions.delete(s);
      else if ((change.binId === null || s.login?.binId === change.binId) && !this.current(s)) {
        this.sessions.delete(s);
        this.onStale(s);
      }
    }
  }

  private look(): void {
    this.secrets.externalChange().then(
      () => {
        if (this.failing) this.log.info({ event: 'device_secrets_look_ok' }, 'device secrets read from the database again');
        this.failing = false;
      },
      (err: unknown) => {
        // once per outage, not once a second: the records last read keep serving the logins meanwhile
        if (!this.failing) this.log.error({ err, event: 'device_secrets_look_failed' }, 'could not look for changed device secrets; keeping the last ones read');
        this.failing = true;
      },
    );
  }

  private guard(what: string, fn: () => unknown): void {
    try {
      fn();
    } catch (err) {
      this.log.error({ err }, `could not ${what}`);
    }
  }
}
