export {
  textMessage,
  isAddressable,
  fit,
  buttonsMessage,
  listMessage,
  locationRequestMessage,
  templateMessage,
  recipientOf,
  type OutboundMessage,
  type TextMessage,
  type InteractiveMessage,
  type TemplateMessage,
  type TemplateComponent,
  type ReplyButton,
  type ListRow,
  type ListSection,
} from './messages.js';
export { GraphError, classifyGraphError, RE_ENGAGEMENT, type ErrorClass } from './graph-error.js';
export type { MessageTransport } from './transport.js';
export { GraphClient, type GraphClientOptions } from './graph-client.js';
export { SandboxTransport, type SandboxMessage, type SandboxTransportOptions } from './sandbox-transport.js';
export { SqliteContacts, PostgresContacts, SERVICE_WINDOW_MS, touchPostgresContacts, withinWindow, type Contacts, type ContactWindow } from './contacts.js';
export {
  Outbox,
  STALE_CLAIM_MS,
  type OutboxOptions,
  type OutboxEntry,
  type OutboxItem,
  type OutboxStatus,
  type SendResult,
  type StatusEvent,
  type TxOutbox,
} from './outbox.js';
export { SEND_PRIORITY, DEFAULT_PRIORITY } from './outbox-item.js';
export { MessagingLimit, type MessagingLimitTier } from './messaging-limit.js';
export {
  SqliteOutboxStore,
  type OutboxStore,
  type LocalOutboxRows,
  type OutboxHead,
  type OpenedHead,
  type SentMessage,
  type SendOutcome,
  type SendSeen,
} from './outbox-store.js';
export { PostgresOutboxStore } from './outbox-store-postgres.js';
export { SqliteInboxStore, recordDeliveries, type InboxStore, type InboundDelivery, type PendingInbound, type PruneCounts, type RecordedItems, type GroupStep, type StepOutcome } from './inbox-store.js';
export { PostgresInboxStore } from './inbox-store-postgres.js';
export { afterSendFailure, afterHandlerFailure, type SendVerdict, type SendRetryPolicy, type HandleVerdict, type HandleRetryPolicy } from './retry-policy.js';
export { verifySignature } from './signature.js';
export { parseWebhook, WebhookItems, type InboundMessage, type StatusUpdate, type DeliveryStatus, type ParsedWebhook } from './webhook.js';
export { Inbox, InvalidWebhookBody, type InboxOptions, type MessageHandler, type StatusSink, type AcceptResult } from './inbox.js';
export { redactText } from './redact.js';
export { Sealer, loadSealer, GENERATED_KEY_FILE } from '../privacy/index.js';
export { createWhatsApp, sqliteOutbox, sqliteInbox } from './create.js';
export { sealClearTables } from './seal-clear-tables.js';
export type { MessageEvents } from './message-events.js';
