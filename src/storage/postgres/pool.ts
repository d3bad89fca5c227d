import pg from 'pg';

/** What the pool of connections to PostgreSQL is opened with. */
export interface PoolOptions {
  /** store.url: postgres://user:password@host:port/database */
  url: string;
  /** shown in pg_stat_activity, so a DBA sees which instance holds a connection (e.g. binbridge/<instance id>) */
  applicationName?: string;
  /** a statement running longer is cancelled by the server: a stuck query must not hold a bin's row for ever */
  statementTimeoutMs?: number;
  /** a new connection that takes longer fails (the database is down or unreachable) */
  connectTimeoutMs?: number;
  max?: number;
}

/** store.url with its password replaced by ***, for every log line and error: the URL itself is a secret. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    // a password may also ride in the query string (?password=…)
    for (const key of [...u.searchParams.keys()]) if (/pass|secret|key/i.test(key)) u.searchParams.set(key, '***');
    return u.toString().replace('%2A%2A%2A', '***');
  } catch {
    // not a URL at all: show none of it rather than a secret by accident
    return 'postgres://(not a valid URL)';
  }
}

/** Removes every occurrence of the URL's password from a text (a driver's message may echo what it was given). */
export function redactText(text: string, url: string): string {
  let out = text.split(url).join(redactUrl(url));
  try {
    const password = decodeURIComponent(new URL(url).password);
    if (password.length > 0) out = out.split(password).join('***');
  } catch {
    // not a URL: nothing more to find
  }
  return out;
}

/**
 * PostgreSQL could not be reached or refused binbridge: says where (the URL without its password), why, and which
 * setting changes it. The command line prints it as one line and exits 2, like a port in use.
 */
export class StoreConnectionError extends Error {
  override readonly name = 'StoreConnectionError';
  constructor(
    readonly where: string,
    readonly reason: string,
    cause: unknown,
  ) {
    super(`cannot use PostgreSQL at ${where} (${reason}; set store.url or BINBRIDGE_STORE_URL)`, { cause });
  }
}

// node-postgres codes for the network, SQLSTATE classes for the server's answers
const REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused: is PostgreSQL running and listening there?',
  ENOTFOUND: 'unknown host',
  EAI_AGAIN: 'host name lookup failed',
  ETIMEDOUT: 'no answer in time',
  ECONNRESET: 'the connection was reset',
  EHOSTUNREACH: 'host unreachable',
  '28P01': 'password authentication failed',
  '28000': 'the server refused this user',
  '3D000': 'no such database',
  '57P03': 'the server is starting up or shutting down',
  '53300': 'too many connections',
};

/** A connection failure as a StoreConnectionError with a clear reason; anything else unchanged. */
export function connectionFailure(err: unknown, url: string): unknown {
  const e = err as { code?: string; message?: string };
  const known = REASONS[e.code ?? ''];
  const timedOut = /timeout/i.test(e.message ?? '') && /connect/i.test(e.message ?? '');
  if (!known && !timedOut) return err;
  return new StoreConnectionError(redactUrl(url), known ?? 'no connection within the connect timeout', redactError(err, url));
}

/** The error with the URL's password taken out of its message (kept as the cause of what binbridge throws). */
function redactError(err: unknown, url: string): unknown {
  if (err instanceof Error) err.message = redactText(err.message, url);
  return err;
}

// BIGINT (int8) columns hold epoch milliseconds and ids, far below 2^53: as numbers, like better-sqlite3 gives them.
// Set on this pool's types only, so nothing else in the process that uses pg is changed.
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === pg.types.builtins.INT8 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

/**
 * A pool of connections to store.url. Every connection carries the statement timeout and the application name;
 * an idle connection that breaks (the server restarted) is dropped from the pool and logged by the caller through
 * `onIdleError`, never thrown at the process. Does not connect until asked: `checkConnection` says whether it can.
 */
export function openPool(opts: PoolOptions, onIdleError: (err: Error) => void = () => {}): pg.Pool {
  const pool = new pg.Pool({
    connectionString: opts.url,
    application_name: opts.applicationName ?? 'binbridge',
    statement_timeout: opts.statementTimeoutMs ?? 30_000,
    // the server cancels a slow statement; this gives up on one whose answer never comes (a network that went quiet)
    query_timeout: (opts.statementTimeoutMs ?? 30_000) + 5_000,
    connectionTimeoutMillis: opts.connectTimeoutMs ?? 10_000,
    max: opts.max ?? 10,
    types,
  });
  pool.on('error', (err) => onIdleError(redactError(err, opts.url) as Error));
  return pool;
}

/** Connects once and asks the server's version: resolves it, or rejects with a StoreConnectionError. */
export async function checkConnection(pool: pg.Pool, url: string): Promise<string> {
  try {
    const { rows } = await pool.query<{ v: string }>('SHOW server_version');
    return rows[0]!.v;
  } catch (err) {
    throw connectionFailure(err, url);
  }
}

export type { Pool, PoolClient } from 'pg';

/** What a store's statements run on: the pool (each statement on its own) or a transaction's client. */
export type Queryable = Pick<pg.ClientBase, 'query'>;
