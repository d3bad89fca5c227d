// /docs documents the API: every route under a tag, with a summary, its parameters named as the route names them,
// its error answers, and the live page's event stream.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBridge, type InProcessBridge } from '../helpers/bridge.js';

interface Operation {
  tags?: string[];
  summary?: string;
  parameters?: { name: string; in: string }[];
  responses?: Record<string, unknown>;
  security?: unknown[];
}
type Doc = { paths: Record<string, Record<string, Operation>>; tags?: { name: string; description?: string }[] };

describe('the OpenAPI document (/docs/json)', () => {
  let bridge: InProcessBridge;
  let doc: Doc;
  beforeAll(async () => {
    bridge = await startBridge({ BINBRIDGE_WHATSAPP_MODE: 'sandbox' });
    doc = (await (await fetch(`${bridge.httpUrl}/docs/json`)).json()) as Doc;
  });
  afterAll(async () => {
    await bridge?.stop();
  });
  const operations = (): [string, Operation][] =>
    Object.entries(doc.paths).flatMap(([p, methods]) => Object.entries(methods).filter(([m]) => m !== 'parameters').map(([m, op]) => [`${m.toUpperCase()} ${p}`, op] as [string, Operation]));

  it('gives every route a tag that the document describes, and a summary', () => {
    const declared = new Set((doc.tags ?? []).filter((t) => t.description).map((t) => t.name));
    const missing = operations()
      .filter(([, op]) => !op.summary || !op.tags?.length || !op.tags.every((t) => declared.has(t)))
      .map(([name]) => name);
    expect(missing).toEqual([]);
  });

  it("includes the live page's event stream", () => {
    const events = doc.paths['/api/events']?.get;
    expect(events?.summary).toBeTruthy();
    expect(events?.parameters?.map((p) => p.name)).toContain('token');
  });

  it('names path parameters as the route does ({id}), and documents the error answers of /api/*', () => {
    expect(Object.keys(doc.paths)).toContain('/api/bins/{id}');
    for (const [name, op] of operations()) {
      const path = name.split(' ')[1]!;
      for (const m of path.matchAll(/\{(\w+)\}/g)) expect(op.parameters?.some((p) => p.in === 'path' && p.name === m[1]), `${name}: ${m[1]}`).toBe(true);
      if (!path.startsWith('/api/')) continue;
      expect(Object.keys(op.responses ?? {}), name).toContain('401');
      if (op.parameters?.length || ['POST', 'PUT'].includes(name.split(' ')[0]!)) expect(Object.keys(op.responses ?? {}), name).toContain('400');
      if (path.includes('{id}')) expect(Object.keys(op.responses ?? {}), name).toContain('404');
      expect(op.security, name).toEqual([{ bearer: [] }]);
    }
  });
});
