import type { Subscriber } from '../events.js';
import { lineProtocol } from './points.js';

/**
 * The domain events that become InfluxDB points besides the readings themselves (SPEC.md "InfluxDB schema").
 * Each payload is declared by what this subscriber reads, so storage depends on no room's types; the rooms'
 * own event maps (alerts, dispatch, whatsapp) fit these shapes.
 */
export interface TelemetryEvents {
  /** rule events after they were applied (an alert opened or closed, a collection, an outlier, …) */
  'alerts.applied': readonly {
    binId: string;
    zone: string;
    type: string;
    value?: number | undefined;
    message: string;
    ts: number;
    cause?: string | undefined;
    hoursToFull?: number | undefined;
  }[];
  /** a job's status changed; `job` as stored after the change */
  'job.changed': {
    job: {
      zone: string;
      crew_id: string | null;
      bin_ids: readonly string[];
      /** why each bin is on the job (dispatch/planner.ts's reasons) */
      stops: readonly { reason: string | null }[];
      created_at: number;
      sent_at: number | null;
      accepted_at: number | null;
      done_at: number | null;
    };
    status: string;
    at: number;
  };
  /** one WhatsApp message in or out, or a delivery status of one */
  'message.counted': { direction: 'in' | 'out'; kind: string; status: string; at: number };
  /** a resident answered the thank-you's question about a closed report: 👍 `up` or 👎 `down` */
  'report.feedback': { reference: string; zone: string; crew: string | null; answer: string; at: number };
  /** something happened to one of a notice's messages (sent, delivered, read, failed, replied, unsubscribed); its figures after it */
  'notice.counted': {
    noticeId: number;
    kind: string;
    status: string;
    at: number;
    figures: { targeted: number; sent: number; delivered: number; read: number; failed: number; replied: number; unsubscribed: number; response_rate: number; capped?: number };
  };
}

/**
 * The one place that turns domain events into `bin_event`, `dispatch`, `whatsapp_message`, `notice` and
 * `report_feedback` points; they go to
 * InfluxDB through the same durable spool as the readings. Returns the unsubscribe.
 */
export function recordTelemetry(bus: Subscriber<TelemetryEvents>, record: (lines: string[]) => void): () => void {
  // InfluxDB keeps one point per series and timestamp: two counts in one millisecond must not overwrite each other
  const lastMessageTs = { in: 0, out: 0 };
  let lastNoticeTs = 0;
  let lastFeedbackTs = 0;
  const offs = [
    bus.on('alerts.applied', (events) => {
      // why the rules decided (cause, the forecast's hours to full) are fields: a tag would split the existing series
      record(
        events.map((e) =>
          lineProtocol('bin_event', { bin_id: e.binId, zone: e.zone, type: e.type }, { value: e.value, message: e.message, cause: e.cause, hours_to_full: e.hoursToFull }, e.ts),
        ),
      );
    }),
    bus.on('job.changed', ({ job, status, at }) => {
      const sent = job.sent_at ?? job.created_at;
      record([
        lineProtocol(
          'dispatch',
          { zone: job.zone, crew_id: job.crew_id ?? 'none', status },
          {
            bins: job.bin_ids.length,
            // why the bins are on the job: their alert (or fire), the forecast, or riding along
            alert_bins: job.stops.filter((s) => s.reason === 'alert' || s.reason === 'fire').length,
            forecast_bins: job.stops.filter((s) => s.reason === 'forecast').length,
            ride_along_bins: job.stops.filter((s) => s.reason === 'ride_along').length,
            seconds_to_accept: job.accepted_at ? (job.accepted_at - sent) / 1000 : undefined,
            seconds_to_done: job.done_at ? (job.done_at - sent) / 1000 : undefined,
          },
          at,
        ),
      ]);
    }),
    bus.on('message.counted', ({ direction, kind, status, at }) => {
      const ts = (lastMessageTs[direction] = Math.max(at, lastMessageTs[direction] + 1));
      record([lineProtocol('whatsapp_message', { direction, kind, status }, { count: 1 }, ts)]);
    }),
    bus.on('report.feedback', ({ reference, zone, crew, answer, at }) => {
      const ts = (lastFeedbackTs = Math.max(at, lastFeedbackTs + 1));
      // the report's reference, never the resident: an answer is counted, not traced to a person
      record([lineProtocol('report_feedback', { zone, crew_id: crew ?? 'none', answer }, { count: 1, reference }, ts)]);
    }),
    bus.on('notice.counted', ({ noticeId, kind, status, at, figures }) => {
      const ts = (lastNoticeTs = Math.max(at, lastNoticeTs + 1));
      // the notice's figures as they stand after this event: the last point of a notice is its funnel
      const { targeted, sent, delivered, read, failed, replied, unsubscribed, response_rate, capped } = figures;
      // status `figures` is no event, only the figures brought up to date after a burst of them
      const fields = { count: status === 'figures' ? 0 : 1, targeted, sent, delivered, read, failed, replied, unsubscribed, response_rate, capped };
      record([lineProtocol('notice', { notice_id: String(noticeId), kind, status }, fields, ts)]);
    }),
  ];
  return () => {
    for (const off of offs) off();
  };
}
