import { EventEmitter } from 'node:events';
import type { FastifyInstance } from 'fastify';
import { buildInboundMessage, inboundEnvelope, metaJson, newWamid, text, webhookError, type BusinessIdentity, type InboundContent } from './envelopes.js';
import { FaultQueue, faultToError, type FaultSpec } from './faults.js';
import { GraphError, graphError, invalidToken, unknownObject } from './graph-errors.js';
import { buildGraphApp } from './http-routes.js';
import { CustomerWindows, MessagingLimit, PairLimiter, ThroughputLimiter } from './limits.js';
import { MediaStore, TINY_JPEG, type MediaItem } from './media-store.js';
import { validateOutbound } from './message-validation.js';
import { StatusNotifier } from './status-notifier.js';
import type { DeliveredStatus, GraphEmulatorOptions, GraphReply, InboundRecord, RefusedRequest, SentMessage, UserSendOptions } from './types.js';
import { WebhookSender, type WebhookAttempt } from './webhook-sender.js';

export type * from './types.js';

const DEFAULTS = {
  host: '127.0.0.1',
  accessToken: 'emulator-access-token',
  appSecret: 'emulator-app-secret',
  phoneNumberId: '106540352242922',
  displayPhoneNumber: '15550783881',
  wabaId: '102290129340398',
  pairIntervalMs: 6000,
  pairBurst: 45,
  mps: 80,
  webhookRetries: 4,
  webhookRetryBaseMs: 250,
  webhookTimeoutMs: 5000,
};

function errorReply(err: GraphError): GraphReply {
  return { kind: 'json', status: err.status, body: err.body, headers: err.headers };
}

/**
 * A stand-in for Meta's WhatsApp Cloud API (Graph API): message sends with Meta's validation, the 24-hour
 * window, pair and throughput limits, injected faults, signed status and inbound webhooks, and media.
 */
export class GraphEmulator extends EventEmitter {
  /** accepted sends, in order */
  readonly sent: SentMessage[] = [];
  /** refused sends (validation, window, limits, auth, faults), in order */
  readonly refused: RefusedRequest[] = [];
  /** statuses the webhook receiver answered 200 */
  readonly statusesDelivered: DeliveredStatus[] = [];
  readonly inbound: InboundRecord[] = [];
  /** every webhook POST, status and inbound, with the receiver's answer */
  readonly webhookAttempts: WebhookAttempt[] = [];
  /** message ids marked as read by the business */
  readonly readReceipts: string[] = [];
  /** sends accepted past the messaging limit, never delivered (a `failed` status with 131048 follows) */
  readonly overLimit: SentMessage[] = [];

  readonly app: FastifyInstance;
  private readonly now: () => number;
  private readonly business: BusinessIdentity;
  private readonly windows = new CustomerWindows();
  private readonly pair: PairLimiter;
  private readonly throughput: ThroughputLimiter;
  private readonly messagingLimit: MessagingLimit | undefined;
  private readonly faults = new FaultQueue();
  private readonly media = new MediaStore();
  private readonly sender: WebhookSender;
  private readonly statuses: StatusNotifier;
  /** BSUID <-> phone of users who wrote in */
  private readonly bsuidToPhone = new Map<string, string>();
  private readonly phoneToBsuid = new Map<string, string>();
  /** raw bodies that may be delivered again: inbound by message id, statuses by wamid (last one) */
  private readonly rawById = new Map<string, { kind: WebhookAttempt['kind']; raw: string }>();
  private baseUrl = '';
  private readonly serialise: (v: unknown) => string;

  constructor(private readonly opts: GraphEmulatorOptions = {}) {
    super();
    this.now = opts.now ?? Date.now;
    this.business = {
      wabaId: opts.wabaId ?? DEFAULTS.wabaId,
      phoneNumberId: opts.phoneNumberId ?? DEFAULTS.phoneNumberId,
      displayPhoneNumber: opts.displayPhoneNumber ?? DEFAULTS.displayPhoneNumber,
    };
    this.pair = new PairLimiter(opts.pairIntervalMs ?? DEFAULTS.pairIntervalMs, opts.pairBurst ?? DEFAULTS.pairBurst);
    this.throughput = new ThroughputLimiter(opts.mps ?? DEFAULTS.mps);
    this.messagingLimit = opts.messagingLimit === undefined ? undefined : new MessagingLimit(opts.messagingLimit);
    this.sender = new WebhookSender({
      url: opts.webhookUrl,
      appSecret: opts.appSecret ?? DEFAULTS.appSecret,
      retries: opts.webhookRetries ?? DEFAULTS.webhookRetries,
      retryBaseMs: opts.webhookRetryBaseMs ?? DEFAULTS.webhookRetryBaseMs,
      timeoutMs: opts.webhookTimeoutMs ?? DEFAULTS.webhookTimeoutMs,
      now: this.now,
      onAttempt: (a) => {
        this.webhookAttempts.push(a);
        this.emit('webhook', a);
      },
    });
    this.serialise = opts.metaStyleJson === false ? (v) => JSON.stringify(v) : metaJson;
    this.statuses = new StatusNotifier({
      sender: this.sender,
      business: this.business,
      now: this.now,
      serialise: this.serialise,
      delays: { sent: 50, delivered: 100, read: 200, ...opts.statusDelaysMs },
      unreachable: new Set((opts.unreachable ?? []).map((n) => n.replace(/^\+/, ''))),
      bsuidOf: (key) => this.phoneToBsuid.get(key),
      remember: (wamid, raw) => this.rawById.set(wamid, { kind: 'status', raw }),
      onDelivered: (d) => {
        this.statusesDelivered.push(d);
        this.emit('status', d);
      },
    });
    this.app = buildGraphApp(this, opts.logger ?? false);
  }

  get url(): string {
    return this.baseUrl;
  }

  get port(): number {
    const address = this.app.server.address();
    return typeof address === 'object' && address !== null ? address.port : 0;
  }

  get phoneNumberId(): string {
    return this.business.phoneNumberId;
  }

  get accessToken(): string {
    return this.opts.accessToken ?? DEFAULTS.accessToken;
  }

  async start(): Promise<this> {
    const host = this.opts.host ?? DEFAULTS.host;
    await this.app.listen({ port: this.opts.port ?? 0, host });
    const shownHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
    this.baseUrl = (this.opts.publicUrl ?? `http://${shownHost}:${this.port}`).replace(/\/$/, '');
    return this;
  }

  async close(): Promise<void> {
    this.sender.abortPending();
    await this.app.close();
    await this.sender.settled();
  }

  /** Forgets messages, statuses, windows, limits, faults and pending webhooks; keeps options and media. */
  reset(): void {
    this.sender.abortPending();
    for (const list of [this.sent, this.refused, this.statusesDelivered, this.inbound, this.webhookAttempts, this.readReceipts, this.overLimit]) list.length = 0;
    this.windows.clear();
    this.messagingLimit?.clear();
    this.pair.clear();
    this.throughput.clear();
    this.faults.clear();
    this.statuses.clear();
    this.rawById.clear();
    this.media.clearGrants();
  }

  /** Queues refusals consumed, one each, by the next message sends (not by mark-as-read requests). */
  injectFaults(faults: FaultSpec | readonly FaultSpec[]): number {
    return this.faults.push(Array.isArray(faults) ? faults : [faults as FaultSpec]);
  }

  get pendingFaults(): number {
    return this.faults.length;
  }

  addMedia(id: string, bytes: Buffer, mimeType = 'image/jpeg'): MediaItem {
    return this.media.add(id, bytes, mimeType);
  }

  openWindow(user: string, at = this.now()): void {
    this.windows.open(this.userKey(user), at);
  }

  closeWindow(user: string): void {
    this.windows.close(this.userKey(user));
  }

  isWindowOpen(user: string): boolean {
    return this.windows.isOpen(this.userKey(user), this.now());
  }

  /** Unique users reached outside a window in the last 24 hours (0 without a `messagingLimit`). */
  messagingLimitUsed(at = this.now()): number {
    return this.messagingLimit?.used(at) ?? 0;
  }

  /** Resolves when every webhook scheduled so far (and any it leads to) has been answered or given up. */
  settled(): Promise<void> {
    return this.sender.settled();
  }

  /** The first accepted message matching `match`, already sent or still to come. */
  waitForMessage(match: (m: SentMessage) => boolean = () => true, timeoutMs = 10_000): Promise<SentMessage> {
    const found = this.sent.find(match);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const onMessage = (m: SentMessage): void => {
        if (!match(m)) return;
        cleanup();
        resolve(m);
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`no matching message at the Graph emulator within ${timeoutMs} ms (${this.sent.length} sent, ${this.refused.length} refused)`));
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        this.off('message', onMessage);
      };
      this.on('message', onMessage);
    });
  }

  /**
   * A WhatsApp user writes to the business: builds Meta's envelope, signs it, posts it to the webhook and
   * opens the user's 24-hour window. `message` is the typed part (see the builders in envelopes.ts) or a text.
   */
  async userSends(from: string, message: InboundContent | string, name = 'WhatsApp User', opts: UserSendOptions = {}): Promise<{ status: number; messageId: string }> {
    const phone = from.replace(/^\+/, '');
    let content = typeof message === 'string' ? text(message) : { ...message };
    if (content.type === 'image') content = this.withStoredImage(content);
    const contextId = opts.contextId ?? (['interactive', 'button'].includes(content.type) ? this.lastSentTo(phone)?.wamid : undefined);
    if (contextId !== undefined) content.context = { from: this.business.displayPhoneNumber, id: contextId };
    const at = this.now();
    const id = opts.id ?? newWamid(phone);
    const msg = buildInboundMessage(phone, content, id, at);
    let contact: Record<string, unknown> | undefined;
    if (opts.userId !== undefined) {
      this.bsuidToPhone.set(opts.userId, phone);
      this.phoneToBsuid.set(phone, opts.userId);
      msg.from_user_id = opts.userId;
      if (opts.hidePhone) delete (msg as Partial<typeof msg>).from;
      contact = {
        profile: { name, ...(opts.username === undefined ? {} : { username: opts.username }) },
        ...(opts.hidePhone ? {} : { wa_id: phone }),
        user_id: opts.userId,
      };
    }
    const envelope = inboundEnvelope(this.business, msg, name);
    if (contact) (envelope.entry[0]!.changes[0]!.value as { contacts: unknown[] }).contacts = [contact];
    const raw = this.serialise(envelope);
    this.windows.open(phone, at);
    this.rawById.set(id, { kind: 'inbound', raw });
    let status = 0;
    if (this.sender.configured) {
      status = await this.sender.post(raw, 'inbound', id, 1);
      if (status !== 200 && opts.retry !== false) void this.sender.track(this.sender.retry(raw, 'inbound', id, status));
    }
    const record: InboundRecord = { id, from: phone, at, type: content.type, raw, httpStatus: status };
    this.inbound.push(record);
    this.emit('inbound', record);
    return { status, messageId: id };
  }

  /** Posts an inbound message or the last status of a message again, byte for byte, as Meta does. */
  async redeliver(messageId: string): Promise<{ status: number }> {
    const stored = this.rawById.get(messageId);
    if (!stored) throw new Error(`nothing delivered with id ${messageId}`);
    if (!this.sender.configured) return { status: 0 };
    const attempt = this.webhookAttempts.filter((a) => a.id === messageId).length + 1;
    return { status: await this.sender.post(stored.raw, stored.kind, messageId, attempt) };
  }

  // --- the Graph API itself (called by http-routes.ts) ---

  private authorized(authorization: string | undefined, queryToken: string | undefined): boolean {
    const token = /^Bearer\s+(.+)$/i.exec(authorization ?? '')?.[1]?.trim() ?? queryToken;
    return token === this.accessToken;
  }

  /** `POST /{version}/{phone_number_id}/messages` */
  async handleSend(phoneNumberId: string, authorization: string | undefined, queryToken: string | undefined, body: unknown): Promise<GraphReply> {
    const at = this.now();
    const isMarkRead = typeof body === 'object' && body !== null && (body as { status?: unknown }).status !== undefined;
    const refuse = (err: GraphError, fault = false): GraphReply => {
      const r: RefusedRequest = { at, phoneNumberId, httpStatus: err.status, error: err.body.error, fault, body };
      this.refused.push(r);
      this.emit('refused', r);
      return errorReply(err);
    };
    const fault = isMarkRead ? undefined : this.faults.take();
    if (fault) {
      if (fault.delayMs) await new Promise((resolve) => setTimeout(resolve, fault.delayMs));
      if (fault.reset) {
        const r: RefusedRequest = { at, phoneNumberId, httpStatus: 0, error: null, fault: true, body };
        this.refused.push(r);
        this.emit('refused', r);
        return { kind: 'reset' };
      }
      const err = faultToError(fault);
      if (err) return refuse(err, true);
    }
    if (!this.authorized(authorization, queryToken)) return refuse(invalidToken());
    if (phoneNumberId !== this.business.phoneNumberId) return refuse(unknownObject(phoneNumberId, 'post'));
    let request;
    try {
      request = validateOutbound(body, this.opts.templates);
    } catch (err) {
      if (err instanceof GraphError) return refuse(err);
      throw err;
    }
    if (request.kind === 'mark_read') {
      this.readReceipts.push(request.messageId);
      return { kind: 'json', status: 200, body: { success: true } };
    }
    const key = this.userKey(request.to);
    const insideWindow = this.windows.isOpen(key, at);
    if (request.type !== 'template' && !insideWindow) return refuse(graphError(131047));
    if (!this.pair.allows(key, at)) return refuse(graphError(131056));
    if (!this.throughput.allows(at)) return refuse(graphError(130429));
    this.pair.record(key, at);
    this.throughput.record(at);
    // Past the messaging limit Meta names no error of its own and the request is still accepted; the message is
    // not delivered (not charged) and its status is `failed`. 131048 is the documented code for "restrictions on
    // how many messages can be sent from this phone number"; a sender that keeps to its limit never sees it.
    const overLimit = !insideWindow && this.messagingLimit !== undefined && !this.messagingLimit.allows(key, at);
    if (!insideWindow && !overLimit) this.messagingLimit?.record(key, at);
    const wamid = newWamid(key);
    const subtype = request.interactiveType ?? request.template?.name;
    const message: SentMessage = {
      wamid,
      at,
      phoneNumberId,
      to: request.to,
      type: request.type,
      ...(subtype === undefined ? {} : { subtype }),
      insideWindow,
      body: body as Record<string, unknown>,
    };
    if (overLimit) {
      this.overLimit.push(message);
      this.emit('over-limit', message);
      const limitError = webhookError(131048, 'Spam rate limit hit', 'Message failed to send because there are restrictions on how many messages can be sent from this phone number.');
      this.statuses.schedule(message, key, request.template?.category ?? 'service', request.byBsuid, limitError);
    } else {
      this.sent.push(message);
      this.emit('message', message);
      this.statuses.schedule(message, key, request.template?.category ?? 'service', request.byBsuid);
    }
    const contact = request.byBsuid ? { input: request.to, user_id: request.to } : { input: request.to, wa_id: request.waId };
    return { kind: 'json', status: 200, body: { messaging_product: 'whatsapp', contacts: [contact], messages: [{ id: wamid }] } };
  }

  /** `GET /{version}/{id}`: media metadata, or the business phone number's profile. */
  handleGetObject(id: string, authorization: string | undefined, queryToken: string | undefined): GraphReply {
    if (!this.authorized(authorization, queryToken)) return errorReply(invalidToken());
    if (id === this.business.phoneNumberId) {
      return {
        kind: 'json',
        status: 200,
        body: {
          verified_name: 'binbridge emulator',
          display_phone_number: this.business.displayPhoneNumber,
          id,
          quality_rating: 'GREEN',
          code_verification_status: 'VERIFIED',
          platform_type: 'CLOUD_API',
          throughput: { level: 'STANDARD' },
        },
      };
    }
    const item = this.media.get(id) ?? (!this.opts.strictMedia && /^\d{6,}$/.test(id) ? this.media.add(id, TINY_JPEG, 'image/jpeg') : undefined);
    if (!item) return errorReply(unknownObject(id, 'get'));
    const token = this.media.grant(id, this.now());
    return {
      kind: 'json',
      status: 200,
      body: {
        messaging_product: 'whatsapp',
        url: `${this.baseUrl}/__media/${id}?mid=${id}&hash=${token}`,
        mime_type: item.mimeType,
        sha256: item.sha256,
        file_size: item.bytes.length,
        id,
      },
    };
  }

  /** `GET /__media/{id}?hash=…`: the bytes, with the bearer token, while the URL has not expired. */
  handleMediaDownload(id: string, authorization: string | undefined, hash: string | undefined): GraphReply {
    if (!this.authorized(authorization, undefined)) return errorReply(invalidToken());
    const item = this.media.redeem(id, hash, this.now());
    if (!item) return { kind: 'json', status: 404, body: { error: { message: 'URL expired or unknown', code: 404 } } };
    return { kind: 'bytes', status: 200, body: item.bytes, mimeType: item.mimeType };
  }

  // --- inside ---

  /** The identity a window, pair limit and conversation belong to: the phone number when known. */
  private userKey(user: string): string {
    const u = user.replace(/^\+/, '');
    return this.bsuidToPhone.get(u) ?? u;
  }

  private lastSentTo(phone: string): SentMessage | undefined {
    for (let i = this.sent.length - 1; i >= 0; i--) if (this.userKey(this.sent[i]!.to) === phone) return this.sent[i];
    return undefined;
  }

  private withStoredImage(content: InboundContent): InboundContent {
    const img = { ...(content.image as Record<string, unknown> | undefined) };
    const id = typeof img.id === 'string' ? img.id : undefined;
    const item = (id === undefined ? undefined : this.media.get(id)) ?? (id === undefined ? this.media.addNew() : this.media.add(id, TINY_JPEG, 'image/jpeg'));
    return { ...content, image: { ...img, mime_type: item.mimeType, sha256: item.sha256, id: item.id } };
  }
}

/** Starts an emulator listening on `opts.port` (0: a free one). */
export async function startGraphEmulator(opts: GraphEmulatorOptions = {}): Promise<GraphEmulator> {
  return new GraphEmulator(opts).start();
}
