// What a run counts and what it found. Each target keeps its own TargetStats; the run adds the checks that
// watch the bridge as a whole (liveness, memory, event loop, the good device, storage, the inbox).

export const TARGETS = ['mqtt', 'decoders', 'http', 'webhook', 'chat'] as const;
export type TargetName = (typeof TARGETS)[number];

/** One defect seen: what was asserted, what happened, and the input that did it (when one input did). */
export interface Finding {
  check: string;
  target?: TargetName | undefined;
  /** the bridge phase (mqtt.auth devices / none), when a bridge was involved */
  phase?: string | undefined;
  message: string;
  /** the input, printable (truncated when long) */
  input?: string | undefined;
  /** where to regenerate it: seed, target, phase, index */
  at?: string | undefined;
}

export interface Recent {
  at: number;
  target: TargetName;
  summary: string;
}

export class TargetStats {
  inputs = 0;
  refusals = 0;
  readonly answers: Record<string, number> = {};
  readonly findings: Finding[] = [];
  private started = 0;
  private busyMs = 0;
  private readonly recent: Recent[] = [];
  /** a replay keeps each input in full, with its answer */
  captureFull = false;
  readonly full: string[] = [];

  constructor(readonly target: TargetName) {}

  /** the whole input and what came back, kept only in a replay */
  detail(text: () => string): void {
    if (this.captureFull) this.full.push(text());
  }

  /** marks a stretch of work (rates are inputs per second of the target's own running time) */
  begin(): void {
    this.started = performance.now();
  }

  end(): void {
    if (this.started) this.busyMs += performance.now() - this.started;
    this.started = 0;
  }

  get seconds(): number {
    return (this.busyMs + (this.started ? performance.now() - this.started : 0)) / 1000;
  }

  answer(kind: string, n = 1): void {
    this.answers[kind] = (this.answers[kind] ?? 0) + n;
  }

  /** keeps the last few inputs so a bridge-wide failure (a blocked loop, a crash) can name what came just before */
  remember(summary: string): void {
    this.recent.push({ at: Date.now(), target: this.target, summary });
    // enough for the seconds around a blocked loop at a few hundred inputs a second
    if (this.recent.length > 2000) this.recent.shift();
  }

  recentSince(t: number): Recent[] {
    return this.recent.filter((r) => r.at >= t);
  }

  find(f: Omit<Finding, 'target'>): void {
    // one target can hit the same defect thousands of times: keep the first few of each kind, count the rest
    const same = this.findings.filter((x) => x.check === f.check && x.phase === f.phase);
    if (same.length < 3) this.findings.push({ ...f, target: this.target });
    this.answer(`finding:${f.check}`);
  }

  merge(other: TargetStats): void {
    this.inputs += other.inputs;
    this.refusals += other.refusals;
    this.busyMs += other.busyMs;
    for (const [k, v] of Object.entries(other.answers)) this.answer(k, v);
    for (const f of other.findings) this.findings.push(f);
  }

  toJSON(): object {
    const s = this.seconds;
    return {
      target: this.target,
      inputs: this.inputs,
      refusals: this.refusals,
      seconds: Math.round(s * 10) / 10,
      inputs_per_s: s > 0 ? Math.round(this.inputs / s) : null,
      answers: Object.fromEntries(Object.entries(this.answers).sort(([a], [b]) => a.localeCompare(b))),
      findings: this.findings.length,
    };
  }
}

/** Shortens an input for the report; the full one can be regenerated from `at`. */
export function clip(s: string, max = 600): string {
  return s.length <= max ? s : `${s.slice(0, max)}… [${s.length} in all]`;
}
