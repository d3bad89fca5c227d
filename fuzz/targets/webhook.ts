// The webhook target: bodies made from the real Meta payloads in test/fixtures/whatsapp/ (text, location,
// interactive reply, status), mutated as JSON (leaves swapped for hostile values, keys dropped, types changed,
// arrays multiplied, message types changed) and now and then as bytes; most are signed with the app secret so they
// get past the signature check, some unsigned or forged. Oracles: a correctly signed JSON body is taken (200), a
// signed non-JSON body is refused (400), a bad signature is refused (401); never a 5xx.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import fc from 'fast-check';
import { ROOT } from '../bridge.js';
import { anyText, anyValue, deepValue } from '../hostile.js';
import { deriveSeed, Rng } from '../rng.js';
import { clip } from '../stats.js';
import type { NetworkTarget } from './network.js';
import { paceInbox, postWebhook, sign } from './wa.js';

const FIXTURES = path.join(ROOT, 'test/fixtures/whatsapp');
const MESSAGE_TYPES = ['text', 'location', 'interactive', 'image', 'button', 'reaction', 'sticker', 'audio', 'video', 'document', 'contacts', 'unsupported', 'system', 'order', 'request_welcome', '', 'TEXT'];
const STATUSES = ['sent', 'delivered', 'read', 'failed', 'deleted', 'warning', ''];

type Signature = 'good' | 'uppercase' | 'none' | 'forged' | 'other_body' | 'malformed';

interface WebhookPlan {
  fixture: number;
  edits: { op: 'set' | 'delete' | 'retype' | 'multiply' | 'type' | 'deep'; at: number; value: unknown; n: number }[];
  freshIds: boolean;
  byteMutation: 'none' | 'truncate' | 'bitflip' | 'insert';
  signature: Signature;
  contentType: string;
  pad: number;
}

const planArb: fc.Arbitrary<WebhookPlan> = fc.record({
  fixture: fc.nat({ max: 3 }),
  edits: fc.array(
    fc.record({
      op: fc.constantFrom('set', 'set', 'set', 'delete', 'retype', 'multiply', 'type', 'deep'),
      at: fc.nat(),
      value: fc.oneof(anyValue, anyText(200), fc.constantFrom(...MESSAGE_TYPES, ...STATUSES)),
      n: fc.integer({ min: 2, max: 60 }),
    }),
    { maxLength: 4 },
  ),
  freshIds: fc.oneof({ weight: 8, arbitrary: fc.constant(true) }, { weight: 2, arbitrary: fc.constant(false) }),
  byteMutation: fc.constantFrom('none', 'none', 'none', 'none', 'none', 'none', 'none', 'none', 'none', 'none', 'truncate', 'bitflip', 'insert'),
  signature: fc.constantFrom<Signature>(...(Array(16).fill('good') as Signature[]), 'uppercase', 'none', 'forged', 'other_body', 'malformed'),
  contentType: fc.constantFrom('application/json', 'application/json', 'application/json', 'application/json', 'application/json', 'application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded'),
  pad: fc.oneof({ weight: 60, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 64 * 1024, max: 3.5 * 1024 * 1024 }) }),
});

/** Every place in a JSON value: [parent, key] pairs, in document order. */
function places(root: unknown): [Record<string, unknown> | unknown[], string | number][] {
  const out: [Record<string, unknown> | unknown[], string | number][] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) {
      v.forEach((x, i) => {
        out.push([v, i]);
        walk(x);
      });
    } else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        out.push([v as Record<string, unknown>, k]);
        walk(x);
      }
    }
  };
  walk(root);
  return out;
}

function setAt(parent: Record<string, unknown> | unknown[], key: string | number, value: unknown): void {
  (parent as Record<string | number, unknown>)[key] = value;
}

/** The messages and statuses of a body get ids never seen before, so the inbox treats them as new. */
function freshen(body: unknown, tag: string): void {
  let k = 0;
  for (const [parent, key] of places(body)) {
    if (key === 'id' && !Array.isArray(parent) && typeof parent[key] === 'string' && String(parent[key]).startsWith('wamid.')) parent[key] = `wamid.FUZZ.${tag}.${k++}`;
  }
}

export function buildDelivery(plan: WebhookPlan, fixtures: unknown[], seed: number, tag: string, secret: string) {
  const r = new Rng(seed);
  const body = structuredClone(fixtures[plan.fixture % fixtures.length]) as Record<string, unknown>;
  const labels: string[] = [`fixture ${plan.fixture}`];
  for (const e of plan.edits) {
    const ps = places(body);
    if (ps.length === 0) break;
    const [parent, key] = ps[e.at % ps.length]!;
    const name = `${String(key)}`;
    switch (e.op) {
      case 'set':
        setAt(parent, key, e.value);
        labels.push(`set ${name}`);
        break;
      case 'delete':
        if (Array.isArray(parent)) parent.splice(Number(key), 1);
        else delete parent[key as string];
        labels.push(`delete ${name}`);
        break;
      case 'retype': {
        const v = (parent as Record<string | number, unknown>)[key];
        setAt(parent, key, Array.isArray(v) ? { 0: v[0] } : v && typeof v === 'object' ? [v] : typeof v === 'string' ? Number(v) || [v] : String(v));
        labels.push(`retype ${name}`);
        break;
      }
      case 'multiply': {
        const v = (parent as Record<string | number, unknown>)[key];
        if (Array.isArray(v) && v.length > 0) {
          setAt(parent, key, Array.from({ length: e.n }, (_, i) => structuredClone(v[i % v.length])));
          labels.push(`${name} ×${e.n}`);
        }
        break;
      }
      case 'type': {
        const msg = places(body).find(([p, k]) => k === 'type' && !Array.isArray(p) && ('from' in p || 'status' in p));
        if (msg) setAt(msg[0], 'type', typeof e.value === 'string' ? e.value : r.pick(MESSAGE_TYPES));
        labels.push('message type');
        break;
      }
      case 'deep':
        setAt(parent, key, deepValue(e.n * 20));
        labels.push(`deep ${name}`);
        break;
    }
  }
  if (plan.freshIds) freshen(body, tag);
  if (plan.pad > 0) body.pad = 'p'.repeat(plan.pad);
  let raw = Buffer.from(JSON.stringify(body));
  if (plan.byteMutation === 'truncate') raw = raw.subarray(0, r.int(0, Math.max(0, raw.length - 1)));
  else if (plan.byteMutation === 'bitflip' && raw.length > 0) raw[r.int(0, raw.length - 1)]! ^= 1 << r.int(0, 7);
  else if (plan.byteMutation === 'insert') {
    const at = r.int(0, raw.length);
    raw = Buffer.concat([raw.subarray(0, at), r.bytes(r.int(1, 8)), raw.subarray(at)]);
  }
  if (plan.byteMutation !== 'none') labels.push(plan.byteMutation);
  let json = true;
  try {
    JSON.parse(raw.toString('utf8'));
  } catch {
    json = false;
  }
  const headers: Record<string, string> = { 'content-type': plan.contentType };
  const good = sign(raw, secret);
  switch (plan.signature) {
    case 'good':
      headers['x-hub-signature-256'] = good;
      break;
    case 'uppercase':
      headers['x-hub-signature-256'] = 'sha256=' + good.slice(7).toUpperCase();
      break;
    case 'forged':
      headers['x-hub-signature-256'] = 'sha256=' + r.bytes(32).toString('hex');
      break;
    case 'other_body':
      headers['x-hub-signature-256'] = sign(Buffer.concat([raw, Buffer.from(' ')]), secret);
      break;
    case 'malformed':
      headers['x-hub-signature-256'] = r.pick(['sha1=' + good.slice(7, 47), good.slice(0, -1), `${good} `, ` ${good}`, good.replace('sha256=', 'SHA256='), 'sha256=', good + good.slice(7)]);
      break;
    case 'none':
      break;
  }
  labels.push(`signature ${plan.signature}`);
  return { raw, headers, json, label: labels.join(', ') };
}

/** What the webhook must answer; null when more than one answer is right. */
function expected(plan: WebhookPlan, json: boolean, bytes: number): number[] | null {
  if (bytes > 3 * 1024 * 1024) return [413];
  // other content types are read by fastify's own parsers first; Meta sends only JSON
  if (!plan.contentType.startsWith('application/json')) return null;
  // a header with blanks around it or an odd prefix: trimming it or not are both defensible
  if (plan.signature === 'malformed') return null;
  if (plan.signature !== 'good' && plan.signature !== 'uppercase') return [401];
  return json ? [200] : [400];
}

export async function fuzzWebhook(t: NetworkTarget): Promise<void> {
  const stats = t.stats;
  const fixtures = fs
    .readdirSync(FIXTURES)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => JSON.parse(fs.readFileSync(path.join(FIXTURES, f), 'utf8')) as unknown);
  const secret = t.bridge.config.appSecret;
  const agent = new http.Agent({ keepAlive: true, maxSockets: t.concurrency, localAddress: '127.0.4.1' });
  let next = t.first;
  let stalled = false;
  const worker = async (): Promise<void> => {
    while (next < t.budget && Date.now() < t.deadline && t.bridge.alive && !stalled) {
      if (!(await paceInbox(t.inboxPending, 300, 60_000, () => t.bridge.alive))) {
        stalled = true;
        stats.find({ check: 'inbox_stalled', phase: t.phase, message: `the inbox kept ${t.inboxPending()} message(s) waiting and did not move for 60 s` });
        break;
      }
      const i = next++;
      const seed = deriveSeed(t.seed, 'webhook', t.phase, i);
      const [plan] = fc.sample(planArb, { seed, numRuns: 1 });
      const d = buildDelivery(plan!, fixtures, seed, `${t.phase}.${i}`, secret);
      stats.inputs++;
      const summary = `${d.label}: ${clip(d.raw.toString('utf8'), 400)}`;
      stats.remember(clip(summary, 300));
      const a = await postWebhook(agent, t.bridge.httpPort, d.raw, d.headers);
      stats.detail(() => `${d.label}\nheaders: ${JSON.stringify(d.headers)}\nbody: ${clip(d.raw.toString('utf8'), 20_000)}\nanswer: ${a.status ?? a.error} ${a.body}`);
      const at = `npm run fuzz -- --seed ${t.seed} --replay webhook:${t.phase}:${i}`;
      if (a.status === null) {
        stats.answer(`error:${a.error}`);
        if (a.error === 'timeout') stats.find({ check: 'webhook_hang', phase: t.phase, message: 'no answer within 30 s', input: summary, at });
        continue;
      }
      stats.answer(`status:${a.status}`);
      if (a.status >= 400 && a.status < 500) stats.refusals++;
      if (a.status >= 500) stats.find({ check: 'webhook_5xx', phase: t.phase, message: `${a.status}: ${clip(a.body, 300)}`, input: summary, at });
      else {
        const want = expected(plan!, d.json, d.raw.length);
        if (want && !want.includes(a.status)) {
          stats.find({ check: 'webhook_status', phase: t.phase, message: `answered ${a.status}, expected ${want.join(' or ')} (${d.json ? 'JSON' : 'not JSON'}, signature ${plan!.signature}): ${clip(a.body, 200)}`, input: summary, at });
        }
      }
    }
  };
  stats.begin();
  try {
    await Promise.all(Array.from({ length: t.concurrency }, () => worker()));
  } finally {
    stats.end();
    agent.destroy();
  }
}
