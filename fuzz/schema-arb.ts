// fast-check arbitraries from the JSON schemas of the OpenAPI document (what fastify-swagger makes of the routes'
// zod schemas): mostly-valid values with a hostile value swapped in here and there, so inputs get past the first
// check and reach the handler, and some fall over at every edge on the way.
import fc from 'fast-check';
import { anyText, anyValue } from './hostile.js';

export interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  enum?: unknown[];
  const?: unknown;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minItems?: number;
  maxItems?: number;
  pattern?: string;
  format?: string;
  additionalProperties?: boolean | JsonSchema;
  default?: unknown;
}

/** Values the schema accepts (as far as a generator can tell). */
export function validArb(s: JsonSchema, depth = 0): fc.Arbitrary<unknown> {
  if (s.const !== undefined) return fc.constant(s.const);
  if (s.enum) return fc.constantFrom(...s.enum);
  const alts = s.anyOf ?? s.oneOf;
  if (alts && alts.length > 0) return fc.oneof(...alts.map((a) => validArb(a, depth + 1)));
  if (s.allOf && s.allOf.length > 0) return validArb(s.allOf[0]!, depth + 1);
  const type = Array.isArray(s.type) ? s.type[0] : s.type;
  switch (type) {
    case 'string': {
      if (s.format === 'date-time') return fc.date({ min: new Date('2000-01-01'), max: new Date('2035-01-01'), noInvalidDate: true }).map((d) => d.toISOString());
      if (s.pattern) {
        try {
          return fc.stringMatching(new RegExp(s.pattern), { maxLength: s.maxLength ?? 40 });
        } catch {
          /* a pattern fast-check cannot read: plain strings */
        }
      }
      return fc.string({ minLength: s.minLength ?? 0, maxLength: Math.min(s.maxLength ?? 40, 200) });
    }
    case 'number':
    case 'integer': {
      const min = s.minimum ?? (s.exclusiveMinimum !== undefined ? s.exclusiveMinimum + 1 : -1e6);
      const max = s.maximum ?? (s.exclusiveMaximum !== undefined ? s.exclusiveMaximum - 1 : 1e6);
      return type === 'integer'
        ? fc.integer({ min: Math.ceil(Math.max(min, -2e9)), max: Math.floor(Math.min(max, 2e9)) })
        : fc.double({ min, max, noNaN: true, noDefaultInfinity: true });
    }
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    case 'array':
      return fc.array(s.items && depth < 6 ? validArb(s.items, depth + 1) : anyValue, { minLength: s.minItems ?? 0, maxLength: Math.min(s.maxItems ?? 4, 6) });
    case 'object':
    default: {
      if (!s.properties || depth > 6) return fc.dictionary(fc.string({ maxLength: 10 }), anyValue, { maxKeys: 3 });
      const shape: Record<string, fc.Arbitrary<unknown>> = {};
      for (const [k, v] of Object.entries(s.properties)) shape[k] = validArb(v, depth + 1);
      return fc.record(shape, { requiredKeys: (s.required ?? []).filter((k) => k in shape) });
    }
  }
}

/**
 * Mostly valid, sometimes not: each field is, with a small chance, dropped, replaced by any value, or given a
 * neighbour's type; extra keys with real and made-up names appear.
 */
export function hostileArb(s: JsonSchema, depth = 0): fc.Arbitrary<unknown> {
  const type = Array.isArray(s.type) ? s.type[0] : s.type;
  if (type === 'object' && s.properties && depth < 6) {
    const shape: Record<string, fc.Arbitrary<unknown>> = {};
    for (const [k, v] of Object.entries(s.properties)) shape[k] = hostileArb(v, depth + 1);
    const names = Object.keys(s.properties);
    return fc
      .tuple(
        fc.record(shape, { requiredKeys: (s.required ?? []).filter((k) => k in shape) }),
        fc.option(fc.dictionary(fc.oneof(fc.constantFrom(...names, '__proto__', 'constructor', 'id'), fc.string({ maxLength: 12 })), anyValue, { maxKeys: 3 }), { freq: 4 }),
      )
      .map(([base, extra]) => (extra ? { ...(base as object), ...extra } : base));
  }
  if (type === 'array' && s.items && depth < 6) {
    return fc.array(hostileArb(s.items, depth + 1), { maxLength: Math.min(s.maxItems ?? 5, 8) });
  }
  return fc.oneof(
    { weight: 8, arbitrary: validArb(s, depth) },
    { weight: 1, arbitrary: anyValue },
    { weight: 1, arbitrary: anyText(60) },
  );
}
