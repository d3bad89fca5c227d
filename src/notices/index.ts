export { Notices, CONSENT, type NoticeInput, type NoticeView } from './notices.js';
export { PostgresNoticeStore } from './store-postgres.js';
export { SqliteNoticeStore, type NoticeStore, type Subscriber, type NewSubscription, type Notice, type NoticeKind, type NoticeStatus, type Target, type Figures, type Consent } from './store.js';
