import { realClock, type Clock } from '../clock.js';
import { GraphError } from './graph-error.js';
import type { OutboundMessage } from './messages.js';
import type { MessageTransport } from './transport.js';

export interface GraphClientOptions {
  graphUrl: string;
  apiVersion: string;
  phoneNumberId: string;
  accessToken: string;
  timeoutMs?: number;
  clock?: Clock;
}

interface GraphErrorBody {
  error?: { message?: unknown; code?: unknown; error_data?: { details?: unknown }; fbtrace_id?: unknown };
}

/** `Retry-After` as milliseconds: delta-seconds or an HTTP date. */
export function parseRetryAfter(value: string | null, now: number): number | undefined {
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value.trim())) return Math.round(Number(value) * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** The WhatsApp Cloud API: `POST {graph_url}/{api_version}/{phone_number_id}/messages`. */
export class GraphClient implements MessageTransport {
  private readonly url: string;

  constructor(private readonly opts: GraphClientOptions) {
    this.url = `${opts.graphUrl.replace(/\/+$/, '')}/${opts.apiVersion}/${opts.phoneNumberId}/messages`;
  }

  async send(msg: OutboundMessage): Promise<{ wamid: string }> {
    let res: Response;
    let text: string;
    try {
      res = await fetch(this.url, {
        method: 'POST',
        headers: { authorization: `Bearer ${this.opts.accessToken}`, 'content-type': 'application/json' },
        body: JSON.stringify(msg),
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? 10_000),
      });
      text = await res.text();
    } catch (err) {
      const e = err as Error;
      const what = e.name === 'TimeoutError' ? 'timeout' : ((e.cause as Error | undefined)?.message ?? e.message);
      throw new GraphError(0, 0, `no answer from Graph: ${what}`);
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    if (res.ok) {
      const id = (body as { messages?: { id?: unknown }[] } | undefined)?.messages?.[0]?.id;
      // accepted but unreadable: retrying could send twice, so this is a permanent failure to look at
      if (typeof id !== 'string' || !id) throw new GraphError(res.status, 0, 'Graph answered without a message id');
      return { wamid: id };
    }
    const err = (body as GraphErrorBody | undefined)?.error;
    const code = typeof err?.code === 'number' ? err.code : Number(err?.code) || 0;
    const message = typeof err?.message === 'string' ? err.message : `HTTP ${res.status}`;
    const details = typeof err?.error_data?.details === 'string' ? err.error_data.details : undefined;
    const trace = typeof err?.fbtrace_id === 'string' ? err.fbtrace_id : undefined;
    throw new GraphError(res.status, code, message, parseRetryAfter(res.headers.get('retry-after'), (this.opts.clock ?? realClock).now()), details, trace);
  }
}
