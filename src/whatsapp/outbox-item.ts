import type { OutboundMessage } from './messages.js';
import type { Sealer } from '../privacy/index.js';
import type { DeliveryStatus, StatusUpdate } from './webhook.js';

export interface OutboxEntry {
  to: string;
  message: OutboundMessage;
  /** a template to send instead when the free-form message is refused with 131047 (outside the 24 h window) */
  fallback?: OutboundMessage;
  /** idempotency key: enqueueing the same key again is a no-op (stored as a pseudonym and sealed) */
  key: string;
  /** opaque to the outbox (stored sealed); handed back in results and statuses */
  ref?: string;
}

export type OutboxStatus = 'pending' | 'sending' | 'sent' | 'failed';

export interface OutboxItem {
  id: number;
  key: string;
  ref: string | null;
  to: string;
  kind: string;
  status: OutboxStatus;
  attempts: number;
  usedFallback: boolean;
  wamid: string | null;
  error: { code: number; message: string } | null;
  delivery: DeliveryStatus | null;
  createdAt: number;
  sentAt: number | null;
  message: OutboundMessage;
}

export interface SendResult {
  id: number;
  ref?: string;
  key: string;
  to: string;
  status: 'sent' | 'failed';
  wamid?: string;
  error?: { code: number; message: string };
  usedFallback: boolean;
}

export interface StatusEvent {
  id: number;
  ref?: string;
  key: string;
  to: string;
  wamid: string;
  status: DeliveryStatus;
  timestamp: number;
  errors?: StatusUpdate['errors'];
  /** the message failed with 131047 after it was accepted, and its fallback template is now queued */
  fallbackQueued: boolean;
}

/** A row of `whatsapp_outbox`: who and what are pseudonyms and sealed blobs (see Sealer). */
export interface Row {
  id: number;
  key_sealed: Buffer;
  ref_sealed: Buffer | null;
  recipient_tag: string;
  recipient_sealed: Buffer;
  kind: string;
  message_sealed: Buffer;
  fallback_sealed: Buffer | null;
  used_fallback: number;
  status: OutboxStatus;
  attempts: number;
  next_attempt_ms: number;
  wamid_sealed: Buffer | null;
  error_code: number | null;
  error_message: string | null;
  delivery_status: DeliveryStatus | null;
  created_ms: number;
  sent_ms: number | null;
}

/** The caller's key and ref and the recipient of a row, opened. */
export interface Opened {
  key: string;
  ref: string | null;
  to: string;
}

export function openRow(r: Row, sealer: Sealer): Opened {
  return { key: sealer.openText(r.key_sealed), ref: r.ref_sealed ? sealer.openText(r.ref_sealed) : null, to: sealer.openText(r.recipient_sealed) };
}

/** The message that goes (or went) out: the fallback template once it is in use. */
export function openMessage(r: Row, sealer: Sealer): OutboundMessage {
  return JSON.parse(sealer.openText(r.used_fallback && r.fallback_sealed ? r.fallback_sealed : r.message_sealed)) as OutboundMessage;
}

export function toItem(r: Row, sealer: Sealer): OutboxItem {
  const { key, ref, to } = openRow(r, sealer);
  return {
    id: r.id,
    key,
    ref,
    to,
    kind: r.kind,
    status: r.status,
    attempts: r.attempts,
    usedFallback: !!r.used_fallback,
    wamid: r.wamid_sealed ? sealer.openText(r.wamid_sealed) : null,
    error: r.error_code === null && r.error_message === null ? null : { code: r.error_code ?? 0, message: r.error_message ?? '' },
    delivery: r.delivery_status,
    createdAt: r.created_ms,
    sentAt: r.sent_ms,
    message: openMessage(r, sealer),
  };
}
