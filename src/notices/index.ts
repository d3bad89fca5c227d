export { Notices, CONSENT, type NoticeInput, type NoticeView } from './notices.js';
export { SqliteNoticeStore, type NoticeStore, type NewSubscription, type Notice, type NoticeKind, type NoticeStatus, type Target, type Figures, type Consent } from './store.js';
