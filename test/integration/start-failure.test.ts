// A start that fails half-way (a port in use, a bins file refused) stops what had started: no listener, timer or
// open database is left behind, so the process can end by itself and a retry on the same data folder works.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { StartError } from '../../src/start-error.js';
import { startBridge } from '../helpers/bridge.js';
import { waitFor } from '../helpers/wait.js';

/** The live listeners, sockets and timers of the process, counted by kind (stdio pipes come and go with the runner). */
function handles(): Map<string, number> {
  const m = new Map<string, number>();
  for (const r of process.getActiveResourcesInfo()) if (/^(TCP|Timeout|Immediate)/.test(r)) m.set(r, (m.get(r) ?? 0) + 1);
  return m;
}
/** Every live resource of the process by kind, but the pipes and terminals through which vitest talks to its worker. */
function resources(): Map<string, number> {
  const m = new Map<string, number>();
  for (const r of process.getActiveResourcesInfo()) if (!/^(PipeWrap|TTYWrap|MessagePort)/.test(r)) m.set(r, (m.get(r) ?? 0) + 1);
  return m;
}
const more = (now: Map<string, number>, before: Map<string, number>) => [...now].filter(([k, n]) => n > (before.get(k) ?? 0)).map(([k, n]) => `${k} +${n - (before.get(k) ?? 0)}`);

async function holdPort(): Promise<{ port: number; close: () => Promise<void> }> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as net.AddressInfo).port, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

describe('a failed start', () => {
  it.each([
    ['BINBRIDGE_HTTP_PORT', 'http.port'],
    ['BINBRIDGE_MQTT_PORT', 'mqtt.port'],
  ])('with %s in use stops everything it had started, and names the setting', async (variable, setting) => {
    const busy = await holdPort();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bb-startfail-'));
    try {
      const before = handles();
      const err = await startBridge({ [variable]: String(busy.port) }, dir).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(StartError);
      expect((err as Error).message).toBe(`cannot listen on 127.0.0.1:${busy.port} (address in use; set ${setting} or ${variable})`);
      await waitFor(() => more(handles(), before).length === 0, { timeoutMs: 5000, message: `handles left: ${more(handles(), before).join(', ')}` });
      // the database was closed: the next start on the same folder opens it and runs
      const again = await startBridge({}, dir);
      expect(again.readiness().ready).toBe(true);
      await again.stop();
    } finally {
      await busy.close();
    }
  });

  it('with the MQTT port in use rejects within 5 s naming the port, leaves no handle of any kind and closes the database', async () => {
    const busy = await holdPort();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bb-startfail-'));
    try {
      const before = resources();
      const t0 = performance.now();
      const err = await startBridge({ BINBRIDGE_MQTT_PORT: String(busy.port) }, dir).then(
        () => null,
        (e: unknown) => e,
      );
      expect(performance.now() - t0).toBeLessThan(5000);
      expect(err).toBeInstanceOf(StartError);
      expect((err as Error).message).toContain(`cannot listen on 127.0.0.1:${busy.port} (address in use;`);
      await waitFor(() => more(resources(), before).length === 0, { timeoutMs: 5000, message: `left: ${more(resources(), before).join(', ')}` });
      // SQLite removes the write-ahead log when the last connection to a database closes
      expect(fs.existsSync(path.join(dir, 'binbridge.db'))).toBe(true);
      expect(fs.existsSync(path.join(dir, 'binbridge.db-wal'))).toBe(false);
    } finally {
      await busy.close();
    }
  });
});
