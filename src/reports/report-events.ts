import type { Report } from './report-store.js';

/** What the residents' side tells the rest of the program (through the event bus). */
export interface ReportEvents {
  /** a report was made, gained a reporter, or changed status (any channel: WhatsApp, Open311); after the commit */
  'report.changed': { report: Report };
  /** a resident answered the thank-you's question (👍 up, 👎 down) about a closed report; after the commit */
  'report.feedback': { reference: string; zone: string; crew: string | null; answer: 'up' | 'down'; at: number };
}
