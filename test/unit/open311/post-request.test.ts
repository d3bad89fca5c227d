import { describe, expect, it } from 'vitest';
import { SERVICES, postRequestSchema, toCreateArgs } from '../../../src/open311/index.js';

const check = (body: Record<string, unknown>) => toCreateArgs(postRequestSchema.parse(body), SERVICES);

describe('toCreateArgs', () => {
  it('reads a form post (all strings) with lat/long', () => {
    expect(check({ api_key: 'k', service_code: 'overflowing-bin', lat: '52.09', long: '5.12', description: 'vol', email: 'a@b.nl', first_name: 'An', last_name: '', phone: '' })).toEqual({
      ok: true,
      args: { service_code: 'overflowing-bin', lat: 52.09, lon: 5.12, description: 'vol', email: 'a@b.nl', first_name: 'An' },
    });
  });

  it.each([
    [{ 'attribute[bin_id]': 'UTR-0001' }, 'UTR-0001'],
    [{ attribute: { bin_id: 'UTR-0002' } }, 'UTR-0002'],
    [{ bin_id: 'UTR-0003' }, 'UTR-0003'],
    [{ address_id: 'UTR-0004' }, 'UTR-0004'],
  ])('takes the bin code from %j', (extra, binId) => {
    expect(check({ service_code: 'overflowing-bin', ...extra })).toEqual({ ok: true, args: { service_code: 'overflowing-bin', bin_id: binId } });
  });

  it('accepts an address_string alone and JSON numbers', () => {
    expect(check({ service_code: 'dumped-waste', address_string: 'Neude 1, Utrecht' })).toMatchObject({ ok: true, args: { address_string: 'Neude 1, Utrecht' } });
    expect(check({ service_code: 'dumped-waste', lat: 52, long: 5 })).toMatchObject({ ok: true, args: { lat: 52, lon: 5 } });
  });

  it.each([
    [{ lat: '52', long: '5' }, 'service_code is required'],
    [{ service_code: 'pothole', lat: '52', long: '5' }, 'service_code pothole is unknown (see services.json)'],
    [{ service_code: 'overflowing-bin' }, 'a location is required: lat and long, address_string, or attribute[bin_id]'],
    [{ service_code: 'overflowing-bin', lat: '52' }, 'lat and long go together'],
    [{ service_code: 'overflowing-bin', lat: '95', long: '5' }, 'lat: between -90 and 90'],
    [{ service_code: 'overflowing-bin', lat: '52', long: '-181' }, 'long: between -180 and 180'],
    [{ service_code: 'overflowing-bin', bin_id: 'A', description: 'x'.repeat(4001) }, 'description: at most 4000 characters'],
    [{ service_code: 'overflowing-bin', bin_id: 'A', media_url: 'javascript:alert(1)' }, 'media_url: an http(s) URL'],
  ])('refuses %j', (body, error) => {
    expect(check(body)).toEqual({ ok: false, error });
  });

  it('refuses a lat that is not a number at the schema', () => {
    expect(postRequestSchema.safeParse({ lat: 'north' }).success).toBe(false);
  });
});
