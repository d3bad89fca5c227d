export { SqliteReportStore, type ReportStore, type Report, type ReportStatus, type Reporter, type NewReport, type ReportFilter } from './report-store.js';
export { SqliteConversationStore, type ConversationStore, type Conversation } from './conversation-store.js';
export { ResidentFlow, type ResidentFlowDeps } from './resident-flow.js';
export { GraphMedia, PhotoStore, MediaTooLarge, type MediaSource } from './photos.js';
export { Retention } from './retention.js';
export { t, detectLanguage, LANGUAGES } from './messages.js';
export { ReportsOpen311 } from './open311-source.js';
export { createReports } from './create.js';
export { BinMatcher } from './matcher/index.js';
