import type { StatusName, StatusObject } from './envelopes.js';
import type { GraphErrorBody } from './graph-errors.js';
import type { MessageType, TemplateRegistry } from './message-validation.js';

export interface StatusDelaysMs {
  sent?: number;
  delivered?: number;
  /** null: the user has read receipts off, no `read` status */
  read?: number | null;
}

export interface GraphEmulatorOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  host?: string;
  /** Base of the media URLs handed out; default `http://{host}:{port}`. */
  publicUrl?: string;
  accessToken?: string;
  appSecret?: string;
  phoneNumberId?: string;
  displayPhoneNumber?: string;
  wabaId?: string;
  /** Where signed webhooks (statuses, inbound messages) go; none: they are not sent. */
  webhookUrl?: string;
  now?: () => number;
  /** One message per this long to one recipient on average (131056 past it). Default 6000. */
  pairIntervalMs?: number;
  /** Messages to one recipient allowed at once before the average applies (Meta: 45). Default 45. */
  pairBurst?: number;
  /** Messages per second for the business number (130429). Default 80. */
  mps?: number;
  /**
   * Meta's messaging limit: unique users reached outside their 24-hour window in any moving 24 hours (250, 2000,
   * 10000, 100000). A send past it is accepted and then fails (status `failed`, 131048) undelivered, and is listed
   * in `overLimit`, not `sent`. Default: no limit (the "unlimited" tier).
   */
  messagingLimit?: number;
  /** Offsets from acceptance; default 50 / 100 / 200 ms. */
  statusDelaysMs?: StatusDelaysMs;
  /** Numbers whose messages are accepted and then fail with 131026. */
  unreachable?: string[];
  /**
   * Unknown numeric media ids are refused (400, code 100) as by Meta. Default false: they are served
   * as the tiny JPEG, as the acceptance stand-in does, so webhooks posted by hand can carry any media id.
   */
  strictMedia?: boolean;
  /** Approved templates; without a registry every template name is accepted. */
  templates?: TemplateRegistry;
  /** Further attempts of a webhook that is not answered 200. Default 4. */
  webhookRetries?: number;
  /** First backoff; doubles each attempt. Default 250 ms. */
  webhookRetryBaseMs?: number;
  webhookTimeoutMs?: number;
  /**
   * Serialise webhooks as Meta does (`\/`, `\uXXXX` for non-ASCII); default true. A receiver that
   * re-serialises the parsed JSON instead of hashing the raw bytes then fails, as it would in production.
   */
  metaStyleJson?: boolean;
  /** fastify logger option; default off. */
  logger?: boolean | Record<string, unknown>;
}

export interface SentMessage {
  wamid: string;
  at: number;
  phoneNumberId: string;
  /** what the request addressed: phone number (`to`) or BSUID (`recipient`) */
  to: string;
  type: MessageType;
  /** `interactive.type` or the template name */
  subtype?: string;
  insideWindow: boolean;
  body: Record<string, unknown>;
}

export interface RefusedRequest {
  at: number;
  phoneNumberId: string;
  httpStatus: number;
  /** Meta's error; null when a fault dropped the connection */
  error: GraphErrorBody['error'] | null;
  fault: boolean;
  body: unknown;
}

export interface DeliveredStatus {
  wamid: string;
  status: StatusName;
  recipientId: string;
  timestamp: number;
  errors?: StatusObject['errors'];
}

export interface InboundRecord {
  id: string;
  from: string;
  at: number;
  type: string;
  /** the exact bytes signed and posted */
  raw: string;
  /** the receiver's answer to the first attempt (0: unreachable or no webhook URL) */
  httpStatus: number;
}

export interface UserSendOptions {
  /** A message id of your own (default: a fresh wamid). */
  id?: string;
  /** The business message this replies to; default for button and list replies: the last one sent to the user. */
  contextId?: string;
  /** Business-scoped user id (BSUID, 2026 usernames): adds `user_id` / `from_user_id`. */
  userId?: string;
  username?: string;
  /** With a userId: leave out the phone number (`wa_id`, `from`), as for a user with a username. */
  hidePhone?: boolean;
  /** Retry in the background when the webhook is not answered 200 (default true, as Meta does). */
  retry?: boolean;
}

/** What the HTTP layer answers. */
export type GraphReply =
  | { kind: 'json'; status: number; body: unknown; headers?: Record<string, string> }
  | { kind: 'bytes'; status: number; body: Buffer; mimeType: string }
  | { kind: 'reset' };
