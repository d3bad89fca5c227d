import { describe, expect, it } from 'vitest';
import { SERVICES, parseForm, postRequestSchema, toCreateArgs } from '../../../src/open311/index.js';

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
    [{ service_code: 'overflowing-bin', lat: '0', long: '0' }, 'lat/long 0,0 is not a location: send the position of the bin, or attribute[bin_id]'],
    [{ service_code: 'overflowing-bin', lat: 0, long: 0 }, 'lat/long 0,0 is not a location: send the position of the bin, or attribute[bin_id]'],
    [{ service_code: 'overflowing-bin', attribute: { bin_id: 'B'.repeat(65) } }, 'attribute[bin_id]: at most 64 characters'],
    [{ service_code: 'overflowing-bin', bin_id: 'A', media_url: 'javascript:alert(1)' }, 'media_url: an http(s) URL'],
  ])('refuses %j', (body, error) => {
    expect(check(body)).toEqual({ ok: false, error });
  });

  const refusal = (body: Record<string, unknown>) => {
    const r = postRequestSchema.safeParse(body);
    return r.success ? 'accepted' : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
  };

  it.each([
    [{ lat: 'north' }, 'lat: a decimal number such as 52.0907, not "north"'],
    [{ lat: '0x1A' }, 'lat: a decimal number such as 52.0907, not "0x1A"'],
    [{ long: '0b101' }, 'long: a decimal number such as 52.0907, not "0b101"'],
    [{ lat: '5e1' }, 'lat: a decimal number such as 52.0907, not "5e1"'],
    [{ lat: 'Infinity' }, 'lat: a decimal number such as 52.0907, not "Infinity"'],
    [{ lat: [52, 52] }, 'lat: one value, not a list'],
    [{ lat: [52] }, 'lat: one value, not a list'],
    [{ lat: { 0: 52 } }, 'lat: a decimal number such as 52.0907, not {"0":52}'],
    [{ description: ['a', 'b'] }, 'description: one value, not a list'],
    [{ description: { a: 1 } }, 'description: text expected'],
    [{ description: 'x'.repeat(4001) }, 'description: at most 4000 characters'],
    [{ address_string: 'x'.repeat(501) }, 'address_string: at most 500 characters'],
    [{ first_name: 'x'.repeat(201) }, 'first_name: at most 200 characters'],
  ])('refuses %j at the schema, naming the field', (body, message) => {
    expect(refusal(body)).toBe(message);
  });

  it.each([
    [{ lat: ' 52.09 ', long: '-5.' }, { lat: 52.09, long: -5 }],
    [{ lat: '+52', long: '.5' }, { lat: 52, long: 0.5 }],
    [{ lat: 52.09, long: 5.2e0 }, { lat: 52.09, long: 5.2 }],
  ])('reads the decimal coordinates %j', (body, parsed) => {
    expect(postRequestSchema.parse(body)).toMatchObject(parsed);
  });
});

describe('parseForm', () => {
  it('keeps single fields as text and turns repeated or [] fields into lists', () => {
    expect(parseForm('service_code=overflowing-bin&lat=52.1&long=5.1&attribute%5Bbin_id%5D=UTR-0001')).toEqual({ service_code: 'overflowing-bin', lat: '52.1', long: '5.1', 'attribute[bin_id]': 'UTR-0001' });
    expect(parseForm('lat[]=1&lat[]=2&long=5&long=6&x[]=only')).toEqual({ lat: ['1', '2'], long: ['5', '6'], x: ['only'] });
  });

  it('keeps a field named __proto__ as a field', () => {
    const f = parseForm('__proto__=x&service_code=a');
    expect(Object.getPrototypeOf(f)).toBe(Object.prototype);
    expect(Object.keys(f)).toEqual(['__proto__', 'service_code']);
  });
});
