// The driver's side of the load generator (bench/ingest-load.ts in a process of its own, talking over IPC).
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { LoadMessage } from '../ingest-load.js';
import { logTail, ROOT, type Harness } from './harness.js';

export type ResultMsg = Extract<LoadMessage, { type: 'result' }>;

export class LoadGen {
  private waiters: { type: LoadMessage['type']; phase?: string; resolve: (m: LoadMessage) => void; reject: (e: Error) => void }[] = [];
  private seen: LoadMessage[] = [];
  readonly child: ChildProcess;
  private exitInfo: string | null = null;

  /** Starts `node --import tsx bench/ingest-load.ts <argv>`; its output goes to <tmp>/<name>.log. */
  constructor(h: Harness, argv: string[], name = 'loadgen') {
    const logFile = h.logFile(name);
    this.child = h.spawnLogged(name, process.execPath, ['--import', 'tsx', path.join(ROOT, 'bench/ingest-load.ts'), ...argv], {
      cwd: ROOT,
      ipc: true,
    });
    this.child.on('message', (m: LoadMessage) => {
      this.seen.push(m);
      this.waiters = this.waiters.filter((w) => {
        if (w.type === m.type && (w.phase === undefined || (m.type === 'phase' && m.phase === w.phase))) {
          w.resolve(m);
          return false;
        }
        return true;
      });
    });
    this.child.once('exit', (code, signal) => {
      this.exitInfo = `load generator exited (code ${code}, signal ${signal}):\n${logTail(logFile)}`;
      for (const w of this.waiters) w.reject(new Error(this.exitInfo));
      this.waiters = [];
    });
  }

  send(m: { type: 'go' }): void {
    this.child.send(m);
  }

  async next<T extends LoadMessage['type']>(type: T, phase?: string): Promise<Extract<LoadMessage, { type: T }>> {
    const hit = this.seen.find((m) => m.type === type && (phase === undefined || (m.type === 'phase' && m.phase === phase)));
    if (hit) return hit as Extract<LoadMessage, { type: T }>;
    if (this.exitInfo) throw new Error(this.exitInfo);
    const m = await new Promise<LoadMessage>((resolve, reject) => this.waiters.push({ type, phase, resolve, reject }));
    return m as Extract<LoadMessage, { type: T }>;
  }
}
