import { z } from 'zod';
import type { Open311Service } from './services.js';
import type { Open311CreateArgs } from './types.js';

const ONE_VALUE = 'one value, not a list';

/** A service request is some twenty fields; a form with more is not one, and is refused before it is looked at. */
export const MAX_FORM_FIELDS = 200;

export class FormError extends Error {
  readonly statusCode = 400;
}

/**
 * A form body as fields: a repeated field (`lat=1&lat=2`) or one named as a list (`lat[]=1`) becomes a list, which
 * the schema then refuses by name rather than keeping one of the values at random. More than MAX_FORM_FIELDS
 * fields is a FormError (a 400), so that no body makes the work grow past a few hundred fields.
 */
export function parseForm(body: string): Record<string, unknown> {
  const fields = new Map<string, unknown>();
  let count = 0;
  for (const [name, value] of new URLSearchParams(body)) {
    if (++count > MAX_FORM_FIELDS) throw new FormError(`at most ${MAX_FORM_FIELDS} form fields`);
    const list = name.endsWith('[]');
    const key = list ? name.slice(0, -2) : name;
    const before = fields.get(key);
    if (before === undefined) fields.set(key, list ? [value] : value);
    else if (Array.isArray(before)) before.push(value);
    else fields.set(key, [before, value]);
  }
  return Object.fromEntries(fields); // own properties only: a field named __proto__ stays a field
}

// form fields arrive as strings, JSON may send numbers; an empty field counts as absent
const text = (max: number) =>
  z.preprocess((v, ctx) => {
    if (v === '' || v === null || v === undefined) return undefined;
    if (Array.isArray(v)) {
      ctx.addIssue({ code: 'custom', message: ONE_VALUE });
      return z.NEVER;
    }
    return typeof v === 'number' ? String(v) : v;
  }, z.string({ error: 'text expected' }).trim().max(max, `at most ${max} characters`).optional());

const DECIMAL = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$/;

/** A coordinate: a JSON number, or a plain decimal in a form field — no hex, exponents, `Infinity` or lists. */
const coordinate = z.preprocess((v, ctx) => {
  if (v === '' || v === null || v === undefined) return undefined;
  if (Array.isArray(v)) {
    ctx.addIssue({ code: 'custom', message: ONE_VALUE });
    return z.NEVER;
  }
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && DECIMAL.test(v.trim())) return Number(v.trim());
  ctx.addIssue({ code: 'custom', message: `a decimal number such as 52.0907, not ${JSON.stringify(v).slice(0, 40)}` });
  return z.NEVER;
}, z.number().finite().optional());

/** The arguments of POST requests.json (GeoReport v2), plus `bin_id` for the bin code on the sticker. */
export const postRequestSchema = z.object({
  api_key: text(256),
  jurisdiction_id: text(200),
  service_code: text(64),
  lat: coordinate,
  long: coordinate,
  address_string: text(500),
  address_id: text(64),
  email: text(254),
  device_id: text(200),
  account_id: text(200),
  first_name: text(200),
  last_name: text(200),
  phone: text(32),
  description: text(4000), // "may contain up to 4,000 characters" in the spec
  media_url: text(2000),
  bin_id: text(64),
  'attribute[bin_id]': text(64),
  attribute: z.record(z.string().max(64), z.unknown()).optional(),
});
export type PostRequestBody = z.infer<typeof postRequestSchema>;

/**
 * Checks a POST against the spec's rules: a known `service_code` and a location — lat and long,
 * `address_string`, or a bin code (`attribute[bin_id]`, `bin_id`, or `address_id`, which is where
 * GET answers put the bin code).
 */
export function toCreateArgs(body: PostRequestBody, services: readonly Open311Service[]): { ok: true; args: Open311CreateArgs } | { ok: false; error: string } {
  if (!body.service_code) return { ok: false, error: 'service_code is required' };
  if (!services.some((s) => s.service_code === body.service_code)) return { ok: false, error: `service_code ${body.service_code} is unknown (see services.json)` };

  if ((body.lat === undefined) !== (body.long === undefined)) return { ok: false, error: 'lat and long go together' };
  if (body.lat !== undefined && (body.lat < -90 || body.lat > 90)) return { ok: false, error: 'lat: between -90 and 90' };
  if (body.long !== undefined && (body.long < -180 || body.long > 180)) return { ok: false, error: 'long: between -180 and 180' };
  // what a device without a fix sends: in the sea off Africa, never a bin of ours
  if (body.lat === 0 && body.long === 0) return { ok: false, error: 'lat/long 0,0 is not a location: send the position of the bin, or attribute[bin_id]' };

  const nested = body.attribute?.bin_id;
  const binId = body['attribute[bin_id]'] ?? (typeof nested === 'string' && nested.trim() ? nested.trim() : undefined) ?? body.bin_id ?? body.address_id;
  if (binId !== undefined && binId.length > 64) return { ok: false, error: 'attribute[bin_id]: at most 64 characters' };
  if (body.lat === undefined && !body.address_string && !binId) {
    return { ok: false, error: 'a location is required: lat and long, address_string, or attribute[bin_id]' };
  }
  if (body.media_url && !/^https?:\/\/\S+$/i.test(body.media_url)) return { ok: false, error: 'media_url: an http(s) URL' };

  const args: Open311CreateArgs = { service_code: body.service_code };
  if (body.lat !== undefined && body.long !== undefined) Object.assign(args, { lat: body.lat, lon: body.long });
  if (body.address_string) args.address_string = body.address_string;
  if (binId) args.bin_id = binId;
  for (const k of ['description', 'media_url', 'email', 'first_name', 'last_name', 'phone'] as const) {
    const v = body[k];
    if (v) args[k] = v;
  }
  return { ok: true, args };
}
