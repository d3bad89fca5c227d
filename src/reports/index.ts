export { ReportStore, type Report, type ReportStatus, type Reporter } from './report-store.js';
export { ConversationStore, type Conversation } from './conversation-store.js';
export { ResidentFlow, type ResidentFlowDeps } from './resident-flow.js';
export { GraphMedia, PhotoStore, MediaTooLarge, type MediaSource } from './photos.js';
export { Retention } from './retention.js';
export { t, detectLanguage, LANGUAGES } from './messages.js';
export { ReportsOpen311 } from './open311-source.js';
export { createReports } from './create.js';
export { BinMatcher } from './matcher/index.js';
