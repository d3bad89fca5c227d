import { createHmac } from 'node:crypto';
import { setMaxListeners } from 'node:events';

export interface WebhookAttempt {
  kind: 'status' | 'inbound';
  /** wamid of the message the delivery is about */
  id: string;
  attempt: number;
  /** 0 when the receiver could not be reached */
  httpStatus: number;
  at: number;
  error?: string;
}

export interface WebhookSenderOptions {
  url: string | undefined;
  appSecret: string;
  /** Further attempts after the first one that is not answered 200. */
  retries: number;
  retryBaseMs: number;
  timeoutMs: number;
  now: () => number;
  onAttempt: (a: WebhookAttempt) => void;
}

/** `sha256=<hex>` over the exact bytes sent (a string is taken as UTF-8). */
export function signatureOf(raw: string | Uint8Array, appSecret: string, algorithm: 'sha256' | 'sha1' = 'sha256'): string {
  return `${algorithm}=${createHmac(algorithm, appSecret).update(raw).digest('hex')}`;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * Posts signed webhooks the way Meta does: JSON body, `X-Hub-Signature-256` (and the legacy sha1 header),
 * and retries with exponential backoff while the receiver does not answer 200.
 */
export class WebhookSender {
  private controller = WebhookSender.controller();
  private readonly pending = new Set<Promise<unknown>>();

  constructor(private readonly opts: WebhookSenderOptions) {}

  /** Every pending wait and post listens on its signal: hundreds at once are expected, not a leak. */
  private static controller(): AbortController {
    const c = new AbortController();
    setMaxListeners(0, c.signal);
    return c;
  }

  get configured(): boolean {
    return this.opts.url !== undefined && this.opts.url !== '';
  }

  /** Aborted by `abortPending()`; a delivery captures it when it starts. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** One POST; resolves the receiver's status (0 when unreachable or aborted). */
  async post(raw: string, kind: WebhookAttempt['kind'], id: string, attempt: number, cancel = this.signal): Promise<number> {
    const signal = AbortSignal.any([cancel, AbortSignal.timeout(this.opts.timeoutMs)]);
    let httpStatus = 0;
    let error: string | undefined;
    try {
      const res = await fetch(this.opts.url!, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'facebookexternalua',
          'x-hub-signature-256': signatureOf(raw, this.opts.appSecret),
          'x-hub-signature': signatureOf(raw, this.opts.appSecret, 'sha1'),
        },
        body: raw,
        signal,
      });
      httpStatus = res.status;
      await res.arrayBuffer().catch(() => undefined);
    } catch (err) {
      error = (err as Error).message;
    }
    this.opts.onAttempt({ kind, id, attempt, httpStatus, at: this.opts.now(), ...(error === undefined ? {} : { error }) });
    return httpStatus;
  }

  /** Retries after a first attempt that failed; resolves the last status seen. */
  async retry(raw: string, kind: WebhookAttempt['kind'], id: string, firstStatus: number, signal = this.signal): Promise<number> {
    let status = firstStatus;
    for (let n = 1; status !== 200 && n <= this.opts.retries && !signal.aborted; n++) {
      await sleep(this.opts.retryBaseMs * 2 ** (n - 1), signal);
      if (signal.aborted) break;
      status = await this.post(raw, kind, id, n + 1, signal);
    }
    return status;
  }

  /** First attempt and retries; resolves the last status seen. */
  async deliver(raw: string, kind: WebhookAttempt['kind'], id: string, signal = this.signal): Promise<number> {
    return this.retry(raw, kind, id, await this.post(raw, kind, id, 1, signal), signal);
  }

  /** Waits, cut short when `signal` is aborted. */
  sleep(ms: number, signal = this.signal): Promise<void> {
    return ms > 0 ? sleep(ms, signal) : Promise.resolve();
  }

  /** Keeps a background delivery so that `settled()` and `abort()` know of it. */
  track<T>(p: Promise<T>): Promise<T> {
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p)).catch(() => undefined);
    return p;
  }

  /** Resolves once no delivery is pending (including ones started meanwhile). */
  async settled(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  /** Stops every pending delivery and backoff at once; deliveries started later are not affected. */
  abortPending(): void {
    const old = this.controller;
    this.controller = WebhookSender.controller();
    old.abort();
  }
}
