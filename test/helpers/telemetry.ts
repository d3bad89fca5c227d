import { pino } from 'pino';
import { EventBus } from '../../src/events.js';
import type { AlertEvents } from '../../src/alerts/index.js';
import type { DispatchEvents } from '../../src/dispatch/index.js';
import { recordTelemetry } from '../../src/storage/index.js';
import type { MessageEvents } from '../../src/whatsapp/index.js';
import type { NoticeEvents } from '../../src/rooms/notices.js';
import type { ReportEvents } from '../../src/reports/index.js';

/** An event bus as the app wires it, with the InfluxDB points its telemetry subscriber makes collected in `points`. */
export function telemetryBus(): { bus: EventBus<AlertEvents & DispatchEvents & MessageEvents & NoticeEvents & ReportEvents>; points: string[] } {
  const bus = new EventBus<AlertEvents & DispatchEvents & MessageEvents & NoticeEvents & ReportEvents>(pino({ level: 'silent' }));
  const points: string[] = [];
  recordTelemetry(bus, (lines) => points.push(...lines));
  return { bus, points };
}
