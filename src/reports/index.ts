export {
  SqliteReportStore,
  type ReportStore,
  type Report,
  type ReportStatus,
  type Reporter,
  type NewReport,
  type ReportFilter,
  type ReportFeedback,
  type SatisfactionRow,
  type FeedbackAnswer,
} from './report-store.js';
export { PostgresReportStore } from './report-store-postgres.js';
export { summarizeSatisfaction, type Satisfaction, type SatisfactionFigures } from './satisfaction.js';
export { SqliteConversationStore, PostgresConversationStore, type ConversationStore, type Conversation } from './conversation-store.js';
export { ResidentFlow, type ResidentFlowDeps } from './resident-flow.js';
export { PostgresPhotoStore } from './photos-postgres.js';
export { DiskPhotoStore, GraphMedia, MediaTooLarge, type MediaSource, type PhotoStore } from './photos.js';
export { Retention } from './retention.js';
export { t, detectLanguage, LANGUAGES } from './messages.js';
export { ReportsOpen311 } from './open311-source.js';
export { createReports } from './create.js';
export { BinMatcher } from './matcher/index.js';
export type { ReportEvents } from './report-events.js';
export { nextStep, wantsPhoto, answersAbout, buttonId, REASON_WAIT_MS, type ResidentMessage, type Reply, type ReportToFile, type Step, type Feedback } from './next-step.js';
