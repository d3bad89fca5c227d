import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GraphEmulator, type GraphEmulatorOptions } from '../../../emulator/graph-emulator.js';

const PHONE_ID = '106540352242922';
const TOKEN = 'test-token';
const CREW = '31612345678';
const HOUR = 3600_000;

const textTo = (to: string, body = 'hello') => ({ messaging_product: 'whatsapp', to, type: 'text', text: { body } });
const templateTo = (to: string) => ({
  messaging_product: 'whatsapp',
  to,
  type: 'template',
  template: { name: 'bin_dispatch', language: { code: 'en' }, components: [{ type: 'body', parameters: [{ type: 'text', text: 'J-1' }] }] },
});

/** A Graph API answer as these tests read it: either the success fields or `error` are there. */
interface GraphAnswer {
  error: { code: number; message: string; type: string; error_subcode?: number; fbtrace_id: string; error_data: { details: string } };
  messages: { id: string }[];
  contacts: unknown[];
  success?: boolean;
}

let clock: number;
let em: GraphEmulator;

function make(opts: GraphEmulatorOptions = {}): GraphEmulator {
  em = new GraphEmulator({ accessToken: TOKEN, phoneNumberId: PHONE_ID, now: () => clock, pairIntervalMs: 1000, pairBurst: 1, ...opts });
  return em;
}

async function send(body: unknown, { token = TOKEN, phoneId = PHONE_ID }: { token?: string | null; phoneId?: string } = {}) {
  const res = await em.app.inject({
    method: 'POST',
    url: `/v23.0/${phoneId}/messages`,
    headers: token === null ? {} : { authorization: `Bearer ${token}` },
    payload: body as Record<string, unknown>,
  });
  return { status: res.statusCode, headers: res.headers, body: res.json() as GraphAnswer };
}

beforeEach(() => {
  clock = Date.UTC(2026, 10, 25, 12);
});
afterEach(async () => {
  await em?.close();
});

describe('authentication and phone number id', () => {
  it.each([
    ['missing', null],
    ['wrong', 'other-token'],
  ])('%s bearer token -> 401, code 190 OAuthException', async (_name, token) => {
    make();
    const r = await send(textTo(CREW), { token });
    expect(r.status).toBe(401);
    expect(r.body.error).toMatchObject({ code: 190, type: 'OAuthException' });
    expect(typeof r.body.error.fbtrace_id).toBe('string');
    expect(r.headers['www-authenticate']).toContain('invalid_token');
    expect(em.refused).toHaveLength(1);
    expect(em.sent).toHaveLength(0);
  });

  it('unknown phone number id -> 400, code 100', async () => {
    make();
    const r = await send(templateTo(CREW), { phoneId: '999' });
    expect(r.status).toBe(400);
    expect(r.body.error).toMatchObject({ code: 100, error_subcode: 33 });
    expect(r.body.error.message).toContain("'999'");
  });

  it('an access_token query parameter works like the header', async () => {
    make();
    const res = await em.app.inject({ method: 'POST', url: `/v23.0/${PHONE_ID}/messages?access_token=${TOKEN}`, payload: templateTo(CREW) });
    expect(res.statusCode).toBe(200);
  });

  it('a body that is not JSON -> 400 code 100 in Meta shape', async () => {
    make();
    const res = await em.app.inject({ method: 'POST', url: `/v23.0/${PHONE_ID}/messages`, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, payload: '{nope' });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe(100);
  });

  it('an unknown path -> 400 in Meta shape', async () => {
    make();
    const res = await em.app.inject({ method: 'GET', url: '/nothing/here/at/all' });
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toMatchObject({ code: 2500, type: 'OAuthException' });
  });
});

describe('accepted messages', () => {
  it('answer with contacts and a unique wamid, and are recorded', async () => {
    make({ pairIntervalMs: 0 });
    const a = await send(templateTo(CREW));
    const b = await send(templateTo('+31687654321'));
    expect(a.status).toBe(200);
    expect(a.body).toEqual({ messaging_product: 'whatsapp', contacts: [{ input: CREW, wa_id: CREW }], messages: [{ id: expect.stringMatching(/^wamid\./) }] });
    expect(b.body.contacts).toEqual([{ input: '+31687654321', wa_id: '31687654321' }]);
    expect(a.body.messages[0]!.id).not.toBe(b.body.messages[0]!.id);
    expect(em.sent.map((m) => [m.wamid, m.type, m.subtype, m.at])).toEqual([
      [a.body.messages[0]!.id, 'template', 'bin_dispatch', clock],
      [b.body.messages[0]!.id, 'template', 'bin_dispatch', clock],
    ]);
    expect(em.sent[0]!.body).toEqual(templateTo(CREW));
  });

  it('mark-as-read answers success and is not a message', async () => {
    make();
    const r = await send({ messaging_product: 'whatsapp', status: 'read', message_id: 'wamid.IN1' });
    expect(r).toMatchObject({ status: 200, body: { success: true } });
    expect(em.readReceipts).toEqual(['wamid.IN1']);
    expect(em.sent).toHaveLength(0);
  });

  it('validation errors are refused with the parameter named and recorded in refused', async () => {
    make();
    em.openWindow(CREW);
    const r = await send({
      messaging_product: 'whatsapp',
      to: CREW,
      type: 'interactive',
      interactive: { type: 'button', body: { text: 'x' }, action: { buttons: [{ type: 'reply', reply: { id: 'a', title: 'Accept this job right now' } }] } },
    });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe(100);
    expect(r.body.error.message).toContain("interactive['action']['buttons'][0]['reply']['title']");
    expect(em.refused[0]).toMatchObject({ httpStatus: 400, fault: false, error: { code: 100 } });
  });
});

describe('the 24-hour customer service window', () => {
  it('refuses free-form messages outside it with 131047 and always allows templates', async () => {
    make();
    const r = await send(textTo(CREW));
    expect(r.status).toBe(400);
    expect(r.body.error).toMatchObject({ code: 131047, message: '(#131047) Re-engagement message', type: 'OAuthException' });
    expect(r.body.error.error_data.details).toContain('24 hours');
    expect((await send(templateTo(CREW))).status).toBe(200);
  });

  it('opens when the user writes and closes 24 hours later', async () => {
    make({ pairIntervalMs: 0 });
    await em.userSends(CREW, 'done'); // no webhook configured: only the window opens
    expect(em.isWindowOpen(CREW)).toBe(true);
    expect((await send(textTo(CREW))).status).toBe(200);
    expect(em.sent[0]!.insideWindow).toBe(true);
    clock += 24 * HOUR - 1;
    expect((await send(textTo(CREW))).status).toBe(200);
    clock += 1;
    expect((await send(textTo(CREW))).body.error.code).toBe(131047);
    expect((await send(templateTo(CREW))).status).toBe(200);
    expect(em.sent.at(-1)!.insideWindow).toBe(false);
  });
});

describe('rate limits', () => {
  it('pair rate limit: a second message to one recipient within the interval -> 131056', async () => {
    make({ pairIntervalMs: 1000 });
    expect((await send(templateTo(CREW))).status).toBe(200);
    clock += 999;
    const r = await send(templateTo(CREW));
    expect(r.status).toBe(400);
    expect(r.body.error).toMatchObject({ code: 131056, message: '(#131056) (Business Account, Consumer Account) pair rate limit hit' });
    expect((await send(templateTo('31600000001'))).status).toBe(200);
    clock += 1;
    expect((await send(templateTo(CREW))).status).toBe(200);
  });

  it('default pair rate is Meta\'s: a burst of 45, then one per 6 s', async () => {
    make({ pairIntervalMs: undefined, pairBurst: undefined });
    for (let i = 0; i < 45; i++) expect((await send(templateTo(CREW))).status).toBe(200);
    expect((await send(templateTo(CREW))).body.error.code).toBe(131056);
    clock += 5999;
    expect((await send(templateTo(CREW))).body.error.code).toBe(131056);
    clock += 1;
    expect((await send(templateTo(CREW))).status).toBe(200);
  });

  it('throughput: more than mps messages in a second -> 130429', async () => {
    make({ mps: 5 });
    for (let i = 0; i < 5; i++) expect((await send(templateTo(`3160000000${i}`))).status).toBe(200);
    const r = await send(templateTo('31600000009'));
    expect(r.body.error).toMatchObject({ code: 130429, message: '(#130429) Rate limit hit' });
    clock += 1000;
    expect((await send(templateTo('31600000009'))).status).toBe(200);
  });

  it('refused messages do not use up the limits', async () => {
    make({ mps: 1 });
    await send(textTo(CREW)); // 131047
    expect((await send(templateTo(CREW))).status).toBe(200);
  });
});

describe('faults on demand', () => {
  it('are consumed one per send, in order, with Retry-After when asked', async () => {
    make({ pairIntervalMs: 0 });
    em.injectFaults([{ status: 500 }, { status: 503, retryAfterS: 2 }, { status: 429 }, { status: 400, code: 131056 }]);
    const answers = [];
    for (let i = 0; i < 5; i++) answers.push(await send(templateTo(CREW)));
    expect(answers.map((a) => [a.status, a.body.error?.code])).toEqual([
      [500, 131000],
      [503, 2],
      [429, 4],
      [400, 131056],
      [200, undefined],
    ]);
    expect(answers[1]!.headers['retry-after']).toBe('2');
    expect(answers[0]!.headers['retry-after']).toBeUndefined();
    expect(em.refused.filter((r) => r.fault)).toHaveLength(4);
    expect(em.sent).toHaveLength(1);
  });

  it('a code alone takes its HTTP status from the catalogue', async () => {
    make();
    em.injectFaults({ code: 130429 });
    const r = await send(templateTo(CREW));
    expect([r.status, r.body.error.code]).toEqual([400, 130429]);
  });

  it('are not consumed by mark-as-read requests', async () => {
    make();
    em.injectFaults([{ status: 500 }]);
    expect((await send({ messaging_product: 'whatsapp', status: 'read', message_id: 'wamid.X' })).status).toBe(200);
    expect((await send(templateTo(CREW))).status).toBe(500);
  });

  it('can be queued over HTTP', async () => {
    make();
    const res = await em.app.inject({ method: 'POST', url: '/__emulator/faults', payload: [{ status: 503 }, { status: 500, code: 1 }] });
    expect(res.json()).toEqual({ queued: 2 });
    expect((await send(templateTo(CREW))).status).toBe(503);
    const bad = await em.app.inject({ method: 'POST', url: '/__emulator/faults', payload: [{ retryAfterS: 1 }] });
    expect(bad.statusCode).toBe(400);
  });

  it('a delay-only fault answers normally, late', async () => {
    make();
    em.injectFaults({ delayMs: 50 });
    const t0 = Date.now();
    expect((await send(templateTo(CREW))).status).toBe(200);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(40);
  });
});

describe('introspection', () => {
  it('GET /__emulator/messages lists sent and refused; reset forgets everything', async () => {
    make();
    await send(templateTo(CREW));
    await send(textTo('31600000001'));
    const res = await em.app.inject({ method: 'GET', url: '/__emulator/messages' });
    const j = res.json();
    expect(j.sent).toHaveLength(1);
    expect(j.refused).toHaveLength(1);
    expect(j.refused[0].error.code).toBe(131047);
    em.openWindow('31600000001');
    em.injectFaults({ status: 500 });
    em.reset();
    expect([em.sent.length, em.refused.length, em.pendingFaults, em.isWindowOpen('31600000001')]).toEqual([0, 0, 0, false]);
    expect((await send(templateTo(CREW))).status).toBe(200); // pair limit forgotten too
  });

  it('waitForMessage resolves with a message already sent or still to come', async () => {
    make({ pairIntervalMs: 0 });
    await send(templateTo(CREW));
    await expect(em.waitForMessage((m) => m.to === CREW)).resolves.toMatchObject({ to: CREW });
    const later = em.waitForMessage((m) => m.to === '31600000002', 1000);
    await send(templateTo('31600000002'));
    await expect(later).resolves.toMatchObject({ to: '31600000002' });
    await expect(em.waitForMessage((m) => m.to === 'none', 20)).rejects.toThrow(/no matching message/);
  });
});

describe('business-scoped user ids', () => {
  it('a user known by BSUID can be written to with `recipient`, sharing the window of their number', async () => {
    make();
    await em.userSends(CREW, 'hi', 'Crew', { userId: 'NL.1234567890123' });
    const r = await send({ messaging_product: 'whatsapp', recipient: 'NL.1234567890123', type: 'text', text: { body: 'hello' } });
    expect(r.status).toBe(200);
    expect(r.body.contacts).toEqual([{ input: 'NL.1234567890123', user_id: 'NL.1234567890123' }]);
    clock += 10;
    expect((await send(textTo(CREW))).body.error.code).toBe(131056);
  });
});
