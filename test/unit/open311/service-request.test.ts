import { describe, expect, it } from 'vitest';
import { SERVICES, fromOpen311Status, toOpen311Status, toServiceRequest, w3cDateTime, type ReportView } from '../../../src/open311/index.js';

const base: ReportView = {
  id: 7,
  reference: 'R-7K3Q',
  bin_id: 'UTR-0042',
  status: 'dispatched',
  method: 'code',
  lat: 52.0907,
  lon: 5.1214,
  address: 'Oudegracht 158',
  zone: 'centrum',
  created_at: Date.UTC(2025, 4, 1, 8, 30, 12, 345),
  updated_at: Date.UTC(2025, 4, 1, 9, 0),
  closed_at: null,
};

describe('toServiceRequest', () => {
  it('names every field as GeoReport v2 does, with a description written from the service and the bin', () => {
    expect(toServiceRequest(base, { services: SERVICES, agency: 'Utrecht Afval' })).toEqual({
      service_request_id: 'R-7K3Q',
      status: 'open',
      status_notes: 'A crew has been dispatched to empty the bin.',
      service_name: 'Overflowing or full waste bin',
      service_code: 'overflowing-bin',
      description: 'Overflowing or full waste bin reported: bin UTR-0042 at Oudegracht 158',
      agency_responsible: 'Utrecht Afval',
      service_notice: null,
      requested_datetime: '2025-05-01T08:30:12Z',
      updated_datetime: '2025-05-01T09:00:00Z',
      expected_datetime: null,
      address: 'Oudegracht 158',
      address_id: 'UTR-0042',
      zipcode: null,
      lat: 52.0907,
      long: 5.1214,
      media_url: null,
    });
  });

  it('keeps the store\'s status notes and service code, and nulls what is unknown', () => {
    const closed = toServiceRequest(
      { ...base, status: 'closed', status_notes: 'Emptied 10:12', service_code: 'damaged-bin', bin_id: null, lat: null, lon: null, address: null, closed_at: base.updated_at },
      { services: SERVICES },
    );
    expect(closed).toMatchObject({ status: 'closed', status_notes: 'Emptied 10:12', service_code: 'damaged-bin', service_name: 'Damaged waste bin', agency_responsible: null, address_id: null, lat: null, long: null, description: 'Damaged waste bin reported', media_url: null });
    expect(toServiceRequest({ ...base, status: 'open' }, { services: SERVICES }).status_notes).toBeNull();
  });
});

describe('status mapping', () => {
  it.each([
    ['open', 'open'],
    ['dispatched', 'open'],
    ['closed', 'closed'],
  ] as const)('%s → %s', (ours, theirs) => expect(toOpen311Status(ours)).toBe(theirs));

  it('maps Open311 statuses back to ours', () => {
    expect(fromOpen311Status('open')).toEqual(['open', 'dispatched']);
    expect(fromOpen311Status('closed')).toEqual(['closed']);
  });

  it('writes W3C date-times in UTC without fractions', () => {
    expect(w3cDateTime(0)).toBe('1970-01-01T00:00:00Z');
  });
});
