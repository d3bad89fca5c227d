// Out of the box the admin surface is local only or protected: without http.api_token binbridge generates one into
// data_dir; other machines need it for /api/* (reads, writes, the event stream), /metrics and /docs, while this
// machine (127.0.0.1, ::1, ::ffff:127.0.0.1) goes without, as before. The bridge listens on :: (every address, both
// families) and is reached through loopback and through this machine's own network address, a real other-address peer.
import fs from 'node:fs';
import os from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnBridge, startBridge, type InProcessBridge } from '../helpers/bridge.js';
import { waitFor } from '../helpers/wait.js';

/** This machine's first non-loopback IPv4 address: a request to it arrives from it, not from 127.0.0.1. */
function networkAddress(): string {
  const found = Object.values(os.networkInterfaces())
    .flat()
    .find((i) => i && i.family === 'IPv4' && !i.internal);
  if (!found) throw new Error('these tests need a non-loopback IPv4 address on this machine (none in os.networkInterfaces())');
  return found.address;
}

const call = (base: string, path: string, init: { method?: string; token?: string; headers?: Record<string, string> } = {}): Promise<Response> =>
  fetch(`${base}${path}`, {
    method: init.method ?? 'GET',
    headers: { ...(init.token ? { authorization: `Bearer ${init.token}` } : {}), ...init.headers },
    signal: AbortSignal.timeout(5000),
  });

/** The status of the event stream's answer; the stream itself is closed at once. */
async function streamStatus(url: string): Promise<number> {
  const ac = new AbortController();
  const res = await fetch(url, { signal: ac.signal });
  ac.abort();
  return res.status;
}

describe('the admin surface without http.api_token', () => {
  let bridge: InProcessBridge;
  let remote: string;
  let local: string;
  let token: string;
  beforeAll(async () => {
    bridge = await startBridge({ BINBRIDGE_HTTP_HOST: '::' });
    remote = `http://${networkAddress()}:${bridge.ports.http}`;
    local = `http://127.0.0.1:${bridge.ports.http}`;
    token = fs.readFileSync(`${bridge.dataDir}/api.token`, 'utf8').trim();
  });
  afterAll(async () => {
    await bridge?.stop();
  });

  it('generates a token into data_dir/api.token, readable by its owner only', () => {
    expect(token.length).toBeGreaterThanOrEqual(32);
    expect(bridge.apiToken).toEqual({ value: token, source: 'generated', file: `${bridge.dataDir}/api.token` });
    expect(fs.statSync(`${bridge.dataDir}/api.token`).mode & 0o777).toBe(0o600);
  });

  it('refuses /api/* writes and reads, /metrics and /docs from another address without the token', async () => {
    expect((await call(remote, '/api/dispatches/NOPE/cancel', { method: 'POST' })).status).toBe(401);
    expect((await call(remote, '/api/crews/C1', { method: 'DELETE' })).status).toBe(401);
    expect((await call(remote, '/api/bins')).status).toBe(401);
    expect((await call(remote, '/api/dispatches/NOPE/cancel', { method: 'POST', token: 'wrong' })).status).toBe(401);
    expect((await call(remote, '/metrics')).status).toBe(401);
    expect((await call(remote, '/docs/json')).status).toBe(401);
    expect((await call(remote, '/docs')).status).toBe(401);
    expect(await streamStatus(`${remote}/api/events`)).toBe(401);
    const refusal = await call(remote, '/api/bins');
    expect(refusal.headers.get('www-authenticate')).toBe('Bearer');
    expect(((await refusal.json()) as { detail: string }).detail).toContain('api.token');
  });

  it('serves another address that brings the token', async () => {
    expect((await call(remote, '/api/dispatches/NOPE/cancel', { method: 'POST', token })).status).toBe(404);
    expect((await call(remote, '/api/bins', { token })).status).toBe(200);
    expect((await call(remote, '/metrics', { token })).status).toBe(200);
    expect((await call(remote, '/docs/json', { token })).status).toBe(200);
    expect(await streamStatus(`${remote}/api/events?token=${encodeURIComponent(token)}`)).toBe(200);
  });

  it('serves the page, health and readiness to everyone', async () => {
    for (const p of ['/', '/healthz', '/readyz']) expect((await call(remote, p)).status, p).toBe(200);
  });

  it('serves this machine without the token: 127.0.0.1 (as ::ffff:127.0.0.1 on a dual-stack listener) and ::1', async () => {
    for (const base of [local, `http://[::1]:${bridge.ports.http}`]) {
      expect((await call(base, '/api/dispatches/NOPE/cancel', { method: 'POST' })).status, base).toBe(404);
      expect((await call(base, '/api/bins')).status, base).toBe(200);
      expect((await call(base, '/metrics')).status, base).toBe(200);
      expect((await call(base, '/docs/json')).status, base).toBe(200);
      expect(await streamStatus(`${base}/api/events`), base).toBe(200);
    }
  });

  it('does not take X-Forwarded-For on trust: a forwarded request from loopback is a proxy relaying someone else', async () => {
    expect((await call(local, '/api/dispatches/NOPE/cancel', { method: 'POST', headers: { 'x-forwarded-for': '127.0.0.1' } })).status).toBe(401);
    expect((await call(local, '/api/bins', { headers: { forwarded: 'for=127.0.0.1' } })).status).toBe(401);
    expect((await call(remote, '/api/bins', { headers: { 'x-forwarded-for': '127.0.0.1' } })).status).toBe(401);
  });

  it('reuses the generated token at the next start', async () => {
    const dir = bridge.dataDir;
    await bridge.stop();
    bridge = await startBridge({ BINBRIDGE_HTTP_HOST: '::' }, dir);
    expect(bridge.apiToken).toEqual({ value: token, source: 'file', file: `${dir}/api.token` });
    remote = `http://${networkAddress()}:${bridge.ports.http}`;
    expect((await call(remote, '/api/bins', { token })).status).toBe(200);
  });
});

describe('an explicit http.api_token', () => {
  let bridge: InProcessBridge;
  beforeAll(async () => {
    bridge = await startBridge({ BINBRIDGE_HTTP_API_TOKEN: 'explicit-token-1234', BINBRIDGE_HTTP_HOST: '::' });
  });
  afterAll(async () => {
    await bridge?.stop();
  });

  it('wins over a generated one and is asked of every address on /api/*, loopback included', async () => {
    expect(bridge.apiToken).toEqual({ value: 'explicit-token-1234', source: 'config', file: null });
    expect(fs.existsSync(`${bridge.dataDir}/api.token`)).toBe(false);
    const local = `http://127.0.0.1:${bridge.ports.http}`;
    const remote = `http://${networkAddress()}:${bridge.ports.http}`;
    expect((await call(local, '/api/bins')).status).toBe(401);
    expect((await call(remote, '/api/bins')).status).toBe(401);
    expect((await call(remote, '/api/bins', { token: 'explicit-token-1234' })).status).toBe(200);
    // /metrics and /docs: this machine without, others with the token
    expect((await call(local, '/metrics')).status).toBe(200);
    expect((await call(remote, '/metrics')).status).toBe(401);
    expect((await call(remote, '/metrics', { token: 'explicit-token-1234' })).status).toBe(200);
  });
});

describe('http.trust_proxy', () => {
  let bridge: InProcessBridge;
  beforeAll(async () => {
    bridge = await startBridge({ BINBRIDGE_HTTP_TRUST_PROXY: 'loopback', BINBRIDGE_HTTP_HOST: '::' });
  });
  afterAll(async () => {
    await bridge?.stop();
  });

  it("takes the client's address from a trusted proxy's X-Forwarded-For, and from no one else", async () => {
    const local = `http://127.0.0.1:${bridge.ports.http}`;
    const remote = `http://${networkAddress()}:${bridge.ports.http}`;
    // a proxy on this machine relaying another machine
    expect((await call(local, '/api/bins', { headers: { 'x-forwarded-for': '203.0.113.7' } })).status).toBe(401);
    // ... relaying this machine
    expect((await call(local, '/api/bins', { headers: { 'x-forwarded-for': '127.0.0.1' } })).status).toBe(200);
    // another machine claiming to be this one: not a trusted proxy
    expect((await call(remote, '/api/bins', { headers: { 'x-forwarded-for': '127.0.0.1' } })).status).toBe(401);
  });
});

describe('binbridge start', () => {
  it("prints the live page's address with the generated token once, for the operator, and never logs it", async () => {
    const bridge = await spawnBridge({ BINBRIDGE_LOG_LEVEL: 'debug' });
    try {
      const token = fs.readFileSync(`${bridge.dataDir}/api.token`, 'utf8').trim();
      const line = `binbridge: live page at http://127.0.0.1:${bridge.httpPort}/#token=${token} (API token in ${bridge.dataDir}/api.token; requests from this machine need none)`;
      await waitFor(() => bridge.output().includes(line), { message: 'the address line' });
      const withToken = bridge.output().split('\n').filter((l) => l.includes(token));
      expect(withToken).toEqual([line]);
      // the logger's lines (JSON on stdout) are there, and none of them holds the token
      expect(bridge.output()).toContain('"msg":"listening"');
    } finally {
      expect(await bridge.stop()).toBe(0);
    }
  });
});
