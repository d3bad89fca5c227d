// The Graph API emulator's public surface, for tests, benchmarks and `npm run emulator`.
export {
  GraphEmulator,
  startGraphEmulator,
  type DeliveredStatus,
  type GraphEmulatorOptions,
  type InboundRecord,
  type RefusedRequest,
  type SentMessage,
  type StatusDelaysMs,
  type UserSendOptions,
} from './graph-emulator.js';
export { buttonReply, image, listReply, location, templateButton, text, metaJson, type InboundContent } from './envelopes.js';
export type { FaultSpec } from './faults.js';
export { ERROR_CATALOG, type GraphErrorBody } from './graph-errors.js';
export { TINY_JPEG, MEDIA_URL_TTL_MS } from './media-store.js';
export type { TemplateDefinition, TemplateRegistry } from './message-validation.js';
export { signatureOf } from './webhook-sender.js';
