import { describe, expect, it } from 'vitest';
import { MAX_SPAN_MS, SERVICES, findReports, parseW3cDateTime, planRequestsQuery, type Open311Source, type ReportView } from '../../../src/open311/index.js';

const NOW = Date.UTC(2025, 5, 1, 12, 0, 0);
const DAY = 86_400_000;
const plan = (q: Record<string, string>) => planRequestsQuery(q, NOW, SERVICES);

describe('parseW3cDateTime', () => {
  it.each([
    ['2025-05-01T08:30:00Z', Date.UTC(2025, 4, 1, 8, 30)],
    ['2025-05-01T08:30:00+02:00', Date.UTC(2025, 4, 1, 6, 30)],
    ['2025-05-01T08:30:00.250-0500', Date.UTC(2025, 4, 1, 13, 30, 0, 250)],
    ['2025-05-01T08:30', Date.UTC(2025, 4, 1, 8, 30)],
    ['2025-05-01', Date.UTC(2025, 4, 1)],
  ])('%s', (text, ms) => expect(parseW3cDateTime(text)).toBe(ms));

  it.each(['yesterday', '05/01/2025', '2025-13-01', '1714550000', ''])('refuses %j', (text) => expect(parseW3cDateTime(text)).toBeUndefined());
});

describe('planRequestsQuery', () => {
  it('defaults to the last 90 days, at most 1000 requests', () => {
    expect(plan({})).toEqual({ ok: true, filter: { start: NOW - MAX_SPAN_MS, end: NOW, limit: 1000 }, service_codes: undefined });
  });

  it('takes start and end dates; one alone spans 90 days from or to it', () => {
    const start = Date.UTC(2025, 4, 1);
    const end = Date.UTC(2025, 4, 8);
    expect(plan({ start_date: '2025-05-01T00:00:00Z', end_date: '2025-05-08T00:00:00Z' })).toMatchObject({ ok: true, filter: { start, end } });
    expect(plan({ start_date: '2025-05-01T00:00:00Z' })).toMatchObject({ filter: { start, end: start + MAX_SPAN_MS } });
    expect(plan({ end_date: '2025-05-08T00:00:00Z' })).toMatchObject({ filter: { start: end - MAX_SPAN_MS, end } });
  });

  it('refuses bad dates, reversed ranges and spans over 90 days', () => {
    expect(plan({ start_date: 'last week' })).toEqual({ ok: false, error: expect.stringContaining('start_date') });
    expect(plan({ end_date: '2025/05/01' })).toEqual({ ok: false, error: expect.stringContaining('end_date') });
    expect(plan({ start_date: '2025-05-08', end_date: '2025-05-01' })).toEqual({ ok: false, error: 'start_date is after end_date' });
    expect(plan({ start_date: '2025-01-01', end_date: '2025-05-01' })).toEqual({ ok: false, error: expect.stringContaining('90 days') });
  });

  it('maps status open to open+dispatched, closed to closed, both to all', () => {
    expect(plan({ status: 'open' })).toMatchObject({ filter: { status: ['open', 'dispatched'] } });
    expect(plan({ status: 'closed' })).toMatchObject({ filter: { status: ['closed'] } });
    expect(plan({ status: 'open,closed' })).toMatchObject({ filter: { status: ['open', 'dispatched', 'closed'] } });
    expect(plan({ status: 'pending' })).toMatchObject({ ok: false });
  });

  it('checks service codes against services.json', () => {
    expect(plan({ service_code: 'overflowing-bin,damaged-bin' })).toMatchObject({ ok: true, service_codes: ['overflowing-bin', 'damaged-bin'] });
    expect(plan({ service_code: 'pothole' })).toEqual({ ok: false, error: expect.stringContaining('pothole') });
  });

  it('lets service_request_id override every other argument', () => {
    expect(plan({ service_request_id: ' R-1, R-2 ,R-1', status: 'nonsense', start_date: 'x' })).toEqual({ ok: true, references: ['R-1', 'R-2'] });
    expect(plan({ service_request_id: ',' })).toMatchObject({ ok: false });
  });
});

describe('findReports', () => {
  const report = (reference: string, created_at: number, service_code: string): ReportView => ({
    id: created_at, reference, bin_id: null, status: 'open', method: 'open311', lat: null, lon: null, address: null, zone: null, created_at, updated_at: created_at, closed_at: null, service_code,
  });
  const all = [report('R-1', NOW - 3 * DAY, 'overflowing-bin'), report('R-2', NOW - DAY, 'damaged-bin'), report('R-3', NOW - 2 * DAY, 'overflowing-bin')];
  const source: Open311Source = {
    list: async (f) => all.filter((r) => !f.service_code || r.service_code === f.service_code),
    getByReference: async (ref) => all.find((r) => r.reference === ref),
    createFromOpen311: async () => ({ reference: 'R-9' }),
  };

  it('looks references up one by one, skipping unknown ones', async () => {
    expect((await findReports(source, { ok: true, references: ['R-3', 'NOPE', 'R-1'] })).map((r) => r.reference)).toEqual(['R-3', 'R-1']);
  });

  it('merges several service codes newest first', async () => {
    const p = plan({ service_code: 'overflowing-bin,damaged-bin' });
    if (!p.ok) throw new Error(p.error);
    expect((await findReports(source, p)).map((r) => r.reference)).toEqual(['R-2', 'R-3', 'R-1']);
  });
});
