import { describe, expect, it } from 'vitest';
import { telemetryBus } from '../../helpers/telemetry.js';

const figures = { targeted: 3, queued: 3, sent: 3, delivered: 2, read: 1, failed: 1, failed_by_code: { '131026': 1 }, replied: 1, unsubscribed: 0, response_rate: 0.5, capped: 2 };

describe('notice points', () => {
  it("become `notice` points tagged by notice, kind and status, carrying the notice's figures after the event", () => {
    const { bus, points } = telemetryBus();
    bus.emit('notice.counted', { noticeId: 7, kind: 'emergency', status: 'read', at: 1_700_000_000_000, figures });
    bus.emit('notice.counted', { noticeId: 7, kind: 'emergency', status: 'read', at: 1_700_000_000_000, figures });
    expect(points).toHaveLength(2);
    expect(points[0]).toMatch(/^notice,kind=emergency,notice_id=7,status=read capped=2i?,count=1i?,delivered=2i?,failed=1i?,read=1i?,replied=1i?,response_rate=0\.5,sent=3i?,targeted=3i?,unsubscribed=0i? 1700000000000\d*$/);
    // two events in one millisecond: distinct timestamps, so InfluxDB keeps both
    expect(points[1]!.split(' ')[2]).not.toBe(points[0]!.split(' ')[2]);
  });

  it('count no event for `figures`, the figures brought up to date after a burst', () => {
    const { bus, points } = telemetryBus();
    bus.emit('notice.counted', { noticeId: 7, kind: 'service', status: 'figures', at: 1_700_000_000_000, figures });
    expect(points[0]).toMatch(/^notice,kind=service,notice_id=7,status=figures capped=2i?,count=0i?,/);
  });
});

describe('bin_event points', () => {
  const base = { binId: 'UTR-0001', zone: 'centrum', ts: 1_700_000_000_000, opened: true };

  it('carry what the rules based a decision on (cause, the forecast) as fields, the series tagged as before', () => {
    const { bus, points } = telemetryBus();
    bus.emit('alerts.applied', [
      { ...base, type: 'full', opens: 'full', value: 70, cause: 'forecast', hoursToFull: 2.5, message: 'Bin is 70 % full.' },
      { ...base, type: 'full', opens: 'full', value: 84, cause: 'threshold', message: 'Bin is 84 % full.' },
      { ...base, type: 'collected', value: 3, message: 'Bin was emptied.', opened: false },
    ]);
    expect(points[0]).toBe('bin_event,bin_id=UTR-0001,type=full,zone=centrum cause="forecast",hours_to_full=2.5,message="Bin is 70 % full.",value=70 1700000000000');
    expect(points[1]).toBe('bin_event,bin_id=UTR-0001,type=full,zone=centrum cause="threshold",message="Bin is 84 % full.",value=84 1700000000000');
    expect(points[2]).toBe('bin_event,bin_id=UTR-0001,type=collected,zone=centrum message="Bin was emptied.",value=3 1700000000000');
  });

  it('mark an outlier at the time and value of the reading set aside', () => {
    const { bus, points } = telemetryBus();
    bus.emit('alerts.applied', [{ ...base, type: 'outlier', value: 88, message: 'Reading of 88 % set aside.', opened: false }]);
    expect(points).toEqual(['bin_event,bin_id=UTR-0001,type=outlier,zone=centrum message="Reading of 88 % set aside.",value=88 1700000000000']);
  });
});

describe('report_feedback points', () => {
  it("become `report_feedback` points tagged by zone, crew and answer, with the report's reference and no resident", () => {
    const { bus, points } = telemetryBus();
    bus.emit('report.feedback', { reference: 'R-AB12', zone: 'centrum', crew: 'crew-a', answer: 'down', at: 1_700_000_000_000 });
    bus.emit('report.feedback', { reference: 'R-CD34', zone: 'west', crew: null, answer: 'up', at: 1_700_000_000_000 });
    expect(points[0]).toMatch(/^report_feedback,answer=down,crew_id=crew-a,zone=centrum count=1i?,reference="R-AB12" 1700000000000$/);
    // closed by the sensors: no crew; two answers in one millisecond keep distinct timestamps
    expect(points[1]).toMatch(/^report_feedback,answer=up,crew_id=none,zone=west count=1i?,reference="R-CD34" 1700000000001$/);
  });
});
