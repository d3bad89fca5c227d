import { z } from 'zod';
import { ERROR_CATALOG, graphError, type GraphError } from './graph-errors.js';

/** One refusal to answer the next `POST .../messages` with, instead of processing it. */
export const faultSchema = z
  .object({
    /** HTTP status; derived from `code` when missing. */
    status: z.number().int().min(400).max(599).optional(),
    /** Meta error code; default 131000 for 500, 2 for 503, 4 for 429, 100 for other 4xx. */
    code: z.number().int().optional(),
    /** Adds a `Retry-After` header (seconds). */
    retryAfterS: z.number().int().min(0).optional(),
    message: z.string().optional(),
    details: z.string().optional(),
    /** Answer only after this delay (a slow Graph API); alone, the request is then processed normally. */
    delayMs: z.number().int().min(0).optional(),
    /** Drop the connection without an answer. */
    reset: z.boolean().optional(),
  })
  .refine((f) => f.status !== undefined || f.code !== undefined || f.reset === true || f.delayMs !== undefined, 'a fault needs status, code, reset or delayMs');
export type FaultSpec = z.input<typeof faultSchema>;
export const faultListSchema = z.union([faultSchema, z.array(faultSchema)]).transform((f) => (Array.isArray(f) ? f : [f]));

const DEFAULT_CODE: Record<number, number> = { 500: 131000, 503: 2, 429: 4 };

/** The refusal a fault stands for, or undefined for a fault that only delays. */
export function faultToError(f: FaultSpec): GraphError | undefined {
  if (f.status === undefined && f.code === undefined) return undefined;
  const code = f.code ?? DEFAULT_CODE[f.status ?? 500] ?? 100;
  const status = f.status ?? ERROR_CATALOG[code]?.httpStatus ?? 400;
  return graphError(code, {
    status,
    ...(f.message === undefined ? {} : { message: f.message }),
    ...(f.details === undefined ? {} : { details: f.details }),
    headers: f.retryAfterS === undefined ? {} : { 'retry-after': String(f.retryAfterS) },
  });
}

export class FaultQueue {
  private readonly queue: FaultSpec[] = [];

  push(faults: readonly FaultSpec[]): number {
    for (const f of faults) this.queue.push(faultSchema.parse(f));
    return this.queue.length;
  }

  take(): FaultSpec | undefined {
    return this.queue.shift();
  }

  get length(): number {
    return this.queue.length;
  }

  clear(): void {
    this.queue.length = 0;
  }
}
