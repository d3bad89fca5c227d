import { z } from 'zod';
import type { Open311Service } from './services.js';
import type { Open311CreateArgs } from './types.js';

// form fields arrive as strings, JSON may send numbers; an empty field counts as absent
const blankToUndefined = (v: unknown) => (v === '' || v === null ? undefined : typeof v === 'number' ? String(v) : v);
const text = z.preprocess(blankToUndefined, z.string().trim().optional());
const num = z.preprocess((v) => (v === '' || v === null ? undefined : v), z.coerce.number().finite().optional());

/** The arguments of POST requests.json (GeoReport v2), plus `bin_id` for the bin code on the sticker. */
export const postRequestSchema = z.object({
  api_key: text,
  jurisdiction_id: text,
  service_code: text,
  lat: num,
  long: num,
  address_string: text,
  address_id: text,
  email: text,
  device_id: text,
  account_id: text,
  first_name: text,
  last_name: text,
  phone: text,
  description: text,
  media_url: text,
  bin_id: text,
  'attribute[bin_id]': text,
  attribute: z.record(z.string(), z.unknown()).optional(),
});
export type PostRequestBody = z.infer<typeof postRequestSchema>;

const MAX_DESCRIPTION = 4000; // "may contain up to 4,000 characters" in the spec

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

  const nested = body.attribute?.bin_id;
  const binId = body['attribute[bin_id]'] ?? (typeof nested === 'string' && nested.trim() ? nested.trim() : undefined) ?? body.bin_id ?? body.address_id;
  if (body.lat === undefined && !body.address_string && !binId) {
    return { ok: false, error: 'a location is required: lat and long, address_string, or attribute[bin_id]' };
  }
  if (body.description && body.description.length > MAX_DESCRIPTION) return { ok: false, error: `description: at most ${MAX_DESCRIPTION} characters` };
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
