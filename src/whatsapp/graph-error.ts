/** What a failed send means for the outbox: try again later, resend as a template, or give up. */
export interface ErrorClass {
  retryable: boolean;
  needsTemplate: boolean;
}

// Meta's error codes (developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes):
// 4 app rate limit, 80007 WABA rate limit, 130429 throughput, 131056 pair rate limit, 131057 account in maintenance,
// 2 and 131016 temporary service trouble.
const RETRY = new Set([2, 4, 80007, 130429, 131016, 131056, 131057]);
// 131026 undeliverable, 131048 spam rate limit (retrying makes it worse), 368 policy block, 190 token expired,
// 100 invalid parameter, 131008 missing parameter: the same request fails the same way again.
const PERMANENT = new Set([100, 190, 368, 131008, 131026, 131048]);
/** Re-engagement: more than 24 h since the user last wrote; only a template may be sent. */
export const RE_ENGAGEMENT = 131047;

/** Classifies by Graph's error code first, by HTTP status when the code says nothing. */
export function classifyGraphError(httpStatus: number, code: number): ErrorClass {
  if (code === RE_ENGAGEMENT) return { retryable: false, needsTemplate: true };
  if (RETRY.has(code)) return { retryable: true, needsTemplate: false };
  if (PERMANENT.has(code)) return { retryable: false, needsTemplate: false };
  // httpStatus 0: no answer at all (refused connection, reset, timeout)
  return { retryable: httpStatus === 0 || httpStatus === 429 || httpStatus >= 500, needsTemplate: false };
}

export class GraphError extends Error {
  readonly retryable: boolean;
  readonly needsTemplate: boolean;

  constructor(
    /** 0 when there was no HTTP answer */
    readonly httpStatus: number,
    /** Graph's `error.code`; 0 when the answer carried none */
    readonly code: number,
    message: string,
    readonly retryAfterMs?: number,
    readonly details?: string,
    readonly fbtraceId?: string,
  ) {
    super(message);
    this.name = 'GraphError';
    const c = classifyGraphError(httpStatus, code);
    this.retryable = c.retryable;
    this.needsTemplate = c.needsTemplate;
  }

  /** The label used in metrics and stored on a failed item: the Graph code, else `http_<status>`, else `network`. */
  get label(): string {
    if (this.code) return String(this.code);
    return this.httpStatus ? `http_${this.httpStatus}` : 'network';
  }
}

/** Any failure of a transport as a GraphError; an unknown error counts as a network failure (retryable). */
export function toGraphError(err: unknown): GraphError {
  if (err instanceof GraphError) return err;
  return new GraphError(0, 0, err instanceof Error ? err.message : String(err));
}
