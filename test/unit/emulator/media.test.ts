import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { GraphEmulator } from '../../../emulator/graph-emulator.js';
import { MEDIA_URL_TTL_MS, TINY_JPEG } from '../../../emulator/media-store.js';
import { image } from '../../../emulator/envelopes.js';

const TOKEN = 'test-token';
const auth = { authorization: `Bearer ${TOKEN}` };
let clock = 1_800_000_000_000;
const em = new GraphEmulator({ accessToken: TOKEN, now: () => clock });

afterEach(() => em.reset());

async function mediaInfo(id: string, headers: Record<string, string> = auth) {
  const res = await em.app.inject({ method: 'GET', url: `/v23.0/${id}`, headers });
  return { status: res.statusCode, body: res.json() as { url: string; sha256: string; file_size: number; error: { code: number } } };
}

describe('media', () => {
  it('GET /{version}/{media_id} answers Meta metadata with a URL back to the emulator', async () => {
    const bytes = Buffer.from('not really a png');
    em.addMedia('555001', bytes, 'image/png');
    const r = await mediaInfo('555001');
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      messaging_product: 'whatsapp',
      url: expect.stringMatching(/\/__media\/555001\?/),
      mime_type: 'image/png',
      sha256: createHash('sha256').update(bytes).digest('hex'),
      file_size: bytes.length,
      id: '555001',
    });
    const dl = await em.app.inject({ method: 'GET', url: r.body.url, headers: auth });
    expect(dl.statusCode).toBe(200);
    expect(dl.headers['content-type']).toBe('image/png');
    expect(dl.rawPayload.equals(bytes)).toBe(true);
  });

  it('needs the bearer token for metadata and download', async () => {
    em.addMedia('555002', TINY_JPEG, 'image/jpeg');
    expect((await mediaInfo('555002', {})).status).toBe(401);
    const { body } = await mediaInfo('555002');
    const dl = await em.app.inject({ method: 'GET', url: body.url });
    expect(dl.statusCode).toBe(401);
    expect(dl.json().error.code).toBe(190);
  });

  it('the URL expires after 5 minutes', async () => {
    em.addMedia('555003', TINY_JPEG, 'image/jpeg');
    const { body } = await mediaInfo('555003');
    clock += MEDIA_URL_TTL_MS - 1;
    expect((await em.app.inject({ method: 'GET', url: body.url, headers: auth })).statusCode).toBe(200);
    clock += 1;
    expect((await em.app.inject({ method: 'GET', url: body.url, headers: auth })).statusCode).toBe(404);
    // a fresh lookup gives a fresh URL
    const again = await mediaInfo('555003');
    expect((await em.app.inject({ method: 'GET', url: again.body.url, headers: auth })).statusCode).toBe(200);
  });

  it('an unknown media id -> 400 code 100 with strictMedia, else the tiny JPEG', async () => {
    const strict = new GraphEmulator({ accessToken: TOKEN, strictMedia: true });
    const res = await strict.app.inject({ method: 'GET', url: '/v23.0/777777', headers: auth });
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toMatchObject({ code: 100, type: 'GraphMethodException' });
    await strict.close();
    const lenient = await mediaInfo('777777');
    expect(lenient.body).toMatchObject({ file_size: TINY_JPEG.length, sha256: createHash('sha256').update(TINY_JPEG).digest('hex') });
    expect((await mediaInfo('not-a-media-id')).status).toBe(400);
  });

  it("a resident's photo is stored as a tiny valid JPEG under the id in the webhook", async () => {
    const { messageId } = await em.userSends('31611111111', image('overflowing'));
    const sent = em.inbound.find((i) => i.id === messageId)!;
    const img = JSON.parse(sent.raw).entry[0].changes[0].value.messages[0].image;
    expect(img).toMatchObject({ caption: 'overflowing', mime_type: 'image/jpeg', id: expect.stringMatching(/^\d+$/) });
    const { body } = await mediaInfo(img.id);
    expect(body.sha256).toBe(img.sha256);
    const dl = await em.app.inject({ method: 'GET', url: body.url, headers: auth });
    expect(dl.rawPayload.subarray(0, 3)).toEqual(Buffer.from([0xff, 0xd8, 0xff]));
    expect(dl.rawPayload.subarray(-2)).toEqual(Buffer.from([0xff, 0xd9]));
  });

  it('GET of the business phone number id answers its profile', async () => {
    const r = await mediaInfo(em.phoneNumberId);
    expect(r.body).toMatchObject({ id: em.phoneNumberId, display_phone_number: '15550783881', quality_rating: 'GREEN' });
  });
});
