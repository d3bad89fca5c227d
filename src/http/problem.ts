import { STATUS_CODES } from 'node:http';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';

// Every error of the API, of the page's routes and of fastify itself (no route, a body that is not JSON or too
// large, a query that fails its schema) answers one shape: RFC 9457 problem details. Open311 keeps the error
// format its standard (GeoReport v2) fixes.

export const PROBLEM_TYPE = 'application/problem+json';

/** One thing wrong with a request: where (`in`: query, path, body, header), which field (`name`), what. */
export interface ProblemError {
  in: 'query' | 'path' | 'body' | 'header';
  name: string;
  detail: string;
}

/** RFC 9457 §3.1; `type` is `about:blank`, so `title` is the status's phrase and `detail` says what to do. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  /** validation: every problem at once */
  errors?: ProblemError[];
  [extension: string]: unknown;
}

export function problem(status: number, detail: string, extra: { errors?: ProblemError[]; [k: string]: unknown } = {}): Problem {
  return { type: 'about:blank', title: STATUS_CODES[status] ?? 'Error', status, detail, ...extra };
}

/** Sends a problem with its media type; returns the reply, so a handler may `return sendProblem(...)`. */
export function sendProblem(reply: FastifyReply, status: number, detail: string, extra: Parameters<typeof problem>[2] = {}): FastifyReply {
  return reply.code(status).type(PROBLEM_TYPE).send(problem(status, detail, extra));
}

/** An error a handler may throw for the error handler to answer as a problem (with its `errors`, if any). */
export class HttpProblem extends Error {
  readonly statusCode: number;
  constructor(
    status: number,
    detail: string,
    readonly errors?: ProblemError[],
    readonly extra: Record<string, unknown> = {},
  ) {
    super(detail);
    this.statusCode = status;
    this.name = 'HttpProblem';
  }
}

const WHERE: Record<string, ProblemError['in']> = { querystring: 'query', params: 'path', body: 'body', headers: 'header' };

interface ValidationItem {
  instancePath?: string;
  message?: string;
  params?: { missingProperty?: string };
}

/** A schema's failures (zod through the type provider, or ajv) as `errors`, one per field. */
export function validationErrors(context: string | undefined, items: readonly ValidationItem[]): ProblemError[] {
  const where = WHERE[context ?? 'body'] ?? 'body';
  return items.map((i) => {
    const path = (i.instancePath ?? '').replace(/^\//, '').replace(/\//g, '.');
    const name = path || i.params?.missingProperty || (where === 'body' ? '(body)' : `(${where})`);
    return { in: where, name, detail: i.message ?? 'not valid' };
  });
}

/** The problem for any error a route (or fastify before it) threw; 5xx say nothing of the cause. */
export function problemOf(err: FastifyError | HttpProblem | (Error & { statusCode?: number })): Problem {
  if (err instanceof HttpProblem) return problem(err.statusCode, err.message, { ...(err.errors ? { errors: err.errors } : {}), ...err.extra });
  const status = typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
  if (status >= 500) return problem(status, 'internal error; the log says more');
  const v = err as FastifyError;
  if (Array.isArray(v.validation)) {
    const errors = validationErrors(v.validationContext, v.validation as ValidationItem[]);
    const where = errors[0]?.in ?? 'body';
    return problem(status, `the ${where === 'query' ? 'query string' : where} is not valid: ${errors.map((e) => `${e.name}: ${e.detail}`).join('; ')}`, { errors });
  }
  return problem(status, err.message);
}

/** The app's error handler: a problem for every error; 5xx are logged (the request's log carries its id). */
export function problemErrorHandler(onServerError: (err: Error, req: FastifyRequest) => void) {
  return (err: FastifyError, req: FastifyRequest, reply: FastifyReply): FastifyReply => {
    const p = problemOf(err);
    if (p.status >= 500) onServerError(err, req);
    return reply.code(p.status).type(PROBLEM_TYPE).send(p);
  };
}

/** Fastify's "no route": a problem naming the method and path. */
export function problemNotFound(req: FastifyRequest, reply: FastifyReply): FastifyReply {
  return sendProblem(reply, 404, `no route ${req.method} ${req.url.split('?')[0]}; the API is described at /docs`);
}
