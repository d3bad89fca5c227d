import { promisify } from 'node:util';
import { gzip as gzipCb } from 'node:zlib';
import { HttpError, InfluxDB, setLogger, type WriteApi } from '@influxdata/influxdb-client';
import type { Config } from '../config/index.js';
import type { Logger } from '../log.js';

const gzip = promisify(gzipCb);

/** Why a write failed, which decides what the writer does with the batch. */
export class WriteError extends Error {
  constructor(
    message: string,
    /** HTTP status, or 0 for network errors and timeouts */
    readonly status: number,
    readonly retryAfterMs: number | undefined,
  ) {
    super(message);
    this.name = 'WriteError';
  }

  /** InfluxDB looked at the points and refused them: retrying the same bytes cannot help. */
  get invalid(): boolean {
    return this.status === 400 || this.status === 422;
  }

  get tooLarge(): boolean {
    return this.status === 413;
  }
}

/** Where the writer delivers batches of line protocol (precision ms). */
export interface InfluxSink {
  readonly api: 'v1' | 'v2';
  write(lines: string[]): Promise<void>;
  close(): Promise<void>;
}

export interface SinkOptions {
  url: string;
  timeoutMs: number;
  gzip: boolean;
}

/** InfluxDB 2.x/3.x/1.8+ and VictoriaMetrics, through the official client's write API. */
export class V2Sink implements InfluxSink {
  readonly api = 'v2';
  private readonly writeApi: WriteApi;

  constructor(opts: SinkOptions & { org: string; bucket: string; token: string; maxBatch: number }, log: Logger) {
    // the client logs its own errors to the console; ours says it once, with context
    setLogger({ error: (message, err) => log.debug({ err }, message), warn: (message, err) => log.debug({ err }, message) });
    const influx = new InfluxDB({ url: opts.url, token: opts.token || undefined, timeout: opts.timeoutMs });
    // Our spool retries and buffers durably; the client's in-memory retry buffer is switched off so a
    // failed flush rejects instead of silently holding (and eventually dropping) lines.
    this.writeApi = influx.getWriteApi(opts.org, opts.bucket, 'ms', {
      // larger than any batch we hand it, so it never sends on its own
      batchSize: opts.maxBatch + 1,
      flushInterval: 0,
      maxRetries: 0,
      maxBufferLines: opts.maxBatch + 1,
      gzipThreshold: opts.gzip ? 1000 : Number.MAX_SAFE_INTEGER,
    });
  }

  async write(lines: string[]): Promise<void> {
    this.writeApi.writeRecords(lines);
    try {
      await this.writeApi.flush();
    } catch (err) {
      if (err instanceof HttpError) {
        throw new WriteError(`InfluxDB answered ${err.statusCode}: ${err.body ?? err.message}`.slice(0, 500), err.statusCode, err.retryAfter() || undefined);
      }
      throw new WriteError((err as Error).message, 0, undefined);
    }
  }

  async close(): Promise<void> {
    await this.writeApi.close().catch(() => undefined);
  }
}

/** InfluxDB 1.x before 1.8: POST /write?db=&rp=. */
export class V1Sink implements InfluxSink {
  readonly api = 'v1';
  private readonly endpoint: string;
  private readonly headers: Record<string, string>;

  constructor(
    private readonly opts: SinkOptions & { db: string; rp: string; username: string; password: string },
  ) {
    const u = new URL('write', opts.url.endsWith('/') ? opts.url : opts.url + '/');
    u.searchParams.set('db', opts.db);
    if (opts.rp) u.searchParams.set('rp', opts.rp);
    u.searchParams.set('precision', 'ms');
    this.endpoint = u.toString();
    this.headers = { 'content-type': 'text/plain; charset=utf-8' };
    if (opts.username) {
      this.headers.authorization = 'Basic ' + Buffer.from(`${opts.username}:${opts.password}`).toString('base64');
    }
  }

  async write(lines: string[]): Promise<void> {
    const text = lines.join('\n');
    const body = this.opts.gzip && text.length > 1000 ? await gzip(text) : text;
    const headers = typeof body === 'string' ? this.headers : { ...this.headers, 'content-encoding': 'gzip' };
    let res: Response;
    try {
      res = await fetch(this.endpoint, { method: 'POST', headers, body, signal: AbortSignal.timeout(this.opts.timeoutMs) });
    } catch (err) {
      const cause = (err as Error & { cause?: Error }).cause;
      throw new WriteError(cause?.message ?? (err as Error).message, 0, undefined);
    }
    if (res.status === 204 || res.status === 200) {
      await res.body?.cancel();
      return;
    }
    const detail = (await res.text().catch(() => '')).slice(0, 500);
    const retryAfter = Number(res.headers.get('retry-after'));
    throw new WriteError(`InfluxDB answered ${res.status}: ${detail}`, res.status, retryAfter > 0 ? retryAfter * 1000 : undefined);
  }

  async close(): Promise<void> {}
}

/** The sink the config names (influx.api). */
export function createSink(config: Config['influx'], log: Logger): InfluxSink {
  const common = { url: config.url, timeoutMs: config.timeout_ms, gzip: config.gzip };
  return config.api === 'v1'
    ? new V1Sink({ ...common, db: config.db, rp: config.rp, username: config.username, password: config.password })
    : new V2Sink({ ...common, org: config.org, bucket: config.bucket, token: config.token, maxBatch: config.batch_size }, log);
}
