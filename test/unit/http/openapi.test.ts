import { describe, expect, it } from 'vitest';
import { API_TAGS, tagOf } from '../../../src/http/openapi.js';

describe('tagOf', () => {
  it.each([
    ['/api/bins', 'bins'],
    ['/api/bins/{id}', 'bins'],
    ['/api/bins.ngsi-ld.json', 'bins'],
    ['/api/bins/{id}/readings', 'live page'],
    ['/api/devices/{id}/secret', 'devices'],
    ['/api/zones/{id}', 'zones and crews'],
    ['/api/crews', 'zones and crews'],
    ['/api/sandbox/inbound', 'whatsapp'],
    ['/api/events', 'live page'],
    ['/open311/v2/requests.json', 'open311'],
    ['/webhooks/whatsapp', 'webhooks'],
    ['/metrics', 'operations'],
  ])('%s → %s', (url, tag) => {
    expect(tagOf(url)).toBe(tag);
    expect(API_TAGS.map((t) => t.name)).toContain(tag);
  });
});
