// `npm run demo` as a user runs it (here through tsx, so no build is needed): it ends with a summary line and exit
// code 0 after --minutes, and after Ctrl-C (SIGINT to its whole process group, as a terminal sends it), leaving no
// bridge behind.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePort } from '../helpers/servers.js';
import { waitFor } from '../helpers/wait.js';

const SUMMARY = /^demo: stopped after \d+\.\d min \((?<why>[^)]+)\): \d+ jobs? \(\d+ sent, \d+ accepted, \d+ done\), \d+ reports?$/m;

async function startDemo(minutes: string) {
  const http = await freePort();
  const mqtt = await freePort();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bb-demo-'));
  // its own process group, so that a signal to the group reaches the demo and its children, as Ctrl-C does
  const proc = spawn(process.execPath, ['--import', 'tsx', 'demo/main.ts', '--http', String(http), '--mqtt', String(mqtt), '--data-dir', dataDir, '--minutes', minutes, '--speed', '600'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let out = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  return { proc, http, exited, output: () => out };
}

const bridgeAnswers = (http: number): Promise<boolean> => fetch(`http://127.0.0.1:${http}/healthz`).then(() => true, () => false);

describe('npm run demo', () => {
  it('ends after --minutes with a summary line and exit code 0, its bridge stopped', async () => {
    const demo = await startDemo('0.1');
    const code = await demo.exited;
    expect(code, demo.output()).toBe(0);
    expect(demo.output()).toContain('demo: open http://127.0.0.1:');
    expect(SUMMARY.exec(demo.output())?.groups?.why, demo.output()).toBe('--minutes 0.1');
    expect(demo.output()).not.toMatch(/fetch failed|ECONNREFUSED|Unhandled|exited \(/);
    expect(await bridgeAnswers(demo.http)).toBe(false);
  }, 180_000);

  it('ends after Ctrl-C (SIGINT to its process group) with a summary line and exit code 0, its bridge stopped', async () => {
    const demo = await startDemo('30');
    await waitFor(() => /^jobs: /m.test(demo.output()), { timeoutMs: 120_000, message: 'the demo running (its status line)' });
    process.kill(-demo.proc.pid!, 'SIGINT');
    const code = await demo.exited;
    expect(code, demo.output()).toBe(0);
    expect(SUMMARY.exec(demo.output())?.groups?.why, demo.output()).toBe('Ctrl-C');
    expect(demo.output()).not.toMatch(/fetch failed|ECONNREFUSED|Unhandled|exited \(/);
    expect(await bridgeAnswers(demo.http)).toBe(false);
  }, 180_000);
});
