import { binSchema, type Bin } from './bin.js';
import { BinsFileError, binRefProblems, type KnownValues } from './bins-file.js';

/**
 * FIWARE Smart Data Models `WasteContainer` entities (NGSI-LD, normalized or keyValues) to and from bins.
 *
 * Mapping, and the choices it makes:
 * - id: `urn:ngsi-ld:WasteContainer:<bin code>` — the last segment of any URN (a plain id as is).
 * - zone: `areaServed` — the model's "geographic area where a service is provided", which is what a
 *   collection zone is; `refWasteContainerIsle` names a spot holding a few containers, too fine for a zone.
 *   A custom `zone` property is the fallback.
 * - kind: `storedWasteKind` (the model's name), else `wasteType` (older feeds), else a custom `kind`.
 *   `category` is not used: in the model it holds the container's build (fixed, underground, portable…).
 * - capacity_l: `cargoVolume` in litres (unitCode MTQ: cubic metres), else `binCapacity`.
 * - depth_mm: `height` in metres (unitCode MMT/CMT honoured), else a custom `depth_mm`.
 * - sensor_offset_mm, dev_eui: custom properties of those names (offset default 50); device_id: the
 *   `refDevice` relationship `urn:ngsi-ld:Device:<device id>`.
 * Both exported and imported entities use the compacted terms of the two contexts below.
 */

export const NGSI_LD_CORE_CONTEXT = 'https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld';
export const WASTE_MANAGEMENT_CONTEXT = 'https://raw.githubusercontent.com/smart-data-models/dataModel.WasteManagement/master/context.jsonld';
const ENTITY_PREFIX = 'urn:ngsi-ld:WasteContainer:';
const DEVICE_PREFIX = 'urn:ngsi-ld:Device:';
const DEFAULT_SENSOR_OFFSET_MM = 50;

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const isWasteContainerType = (t: unknown) => typeof t === 'string' && (t === 'WasteContainer' || /[/#:]WasteContainer$/.test(t));

/** The entity list of a document: an array, an object holding exactly one array, or a single entity. */
function entitiesOf(json: unknown): unknown[] | undefined {
  if (Array.isArray(json)) return json;
  if (!isObject(json)) return undefined;
  if ('type' in json && 'id' in json) return [json];
  const arrays = Object.values(json).filter(Array.isArray);
  return arrays.length === 1 ? arrays[0] : undefined;
}

/** True when the JSON looks like NGSI-LD WasteContainer entities (not GeoJSON, not something else). */
export function isNgsiLd(json: unknown): boolean {
  const entities = entitiesOf(json);
  return !!entities && entities.length > 0 && entities.some((e) => isObject(e) && isWasteContainerType(e.type));
}

/** An attribute's value: normalized `{ type: 'Property', value }` / `{ type: 'Relationship', object }`, or keyValues as is. */
function valueOf(attr: unknown): unknown {
  if (isObject(attr) && typeof attr.type === 'string') {
    if ('value' in attr) return attr.value;
    if (attr.type === 'Relationship' && 'object' in attr) return attr.object;
  }
  return attr;
}
const unitOf = (attr: unknown): string | undefined => (isObject(attr) && typeof attr.unitCode === 'string' ? attr.unitCode.toUpperCase() : undefined);
const first = (v: unknown): unknown => (Array.isArray(v) ? v[0] : v);

/** Our bin kinds from the model's waste names; anything else is residual waste. */
export function kindFromWaste(value: unknown): string {
  const v = String(first(value) ?? '').trim().toLowerCase();
  if (v === 'organic') return 'organic';
  if (v === 'paper' || v === 'paper&cardboard' || v === 'paper & cardboard' || v === 'cardboard') return 'paper';
  if (v === 'glass') return 'glass';
  if (v === 'plastic' || v === 'packaging') return 'plastic';
  return 'rest';
}
const wasteFromKind = (kind: string): string => (kind === 'rest' ? 'other' : kind);

function binIdFromEntityId(id: unknown): unknown {
  // bin codes hold no ':', so the last segment of any URN is the code
  return typeof id === 'string' && id.startsWith('urn:') ? id.slice(id.lastIndexOf(':') + 1) : id;
}

function litres(attr: unknown): unknown {
  const v = valueOf(attr);
  return typeof v === 'number' && unitOf(attr) === 'MTQ' ? Math.round(v * 1000) : v;
}

function millimetres(attr: unknown): unknown {
  const v = valueOf(attr);
  if (typeof v !== 'number') return v;
  const unit = unitOf(attr);
  return Math.round(unit === 'MMT' ? v : unit === 'CMT' ? v * 10 : v * 1000);
}

/** The entity's fields under our bin names, for `binSchema` to judge; problems the schema cannot see go to `problems`. */
function toBinFields(e: Json, problems: string[]): Json {
  const out: Json = { id: binIdFromEntityId(e.id) };
  const loc = valueOf(e.location);
  if (isObject(loc) && loc.type === 'Point' && Array.isArray(loc.coordinates) && loc.coordinates.length >= 2) {
    out.lon = loc.coordinates[0];
    out.lat = loc.coordinates[1];
  } else {
    problems.push(`location: a GeoJSON Point, [lon, lat]`);
  }
  const address = valueOf(e.address);
  out.address = isObject(address) ? (address.streetAddress ?? '') : (address ?? '');
  out.zone = first(valueOf(e.areaServed)) ?? valueOf(e.zone);
  const waste = valueOf(e.storedWasteKind) ?? valueOf(e.wasteType);
  out.kind = waste !== undefined ? kindFromWaste(waste) : (valueOf(e.kind) ?? 'rest');
  out.capacity_l = e.cargoVolume !== undefined ? litres(e.cargoVolume) : litres(e.binCapacity);
  out.depth_mm = e.height !== undefined ? millimetres(e.height) : valueOf(e.depth_mm);
  out.sensor_offset_mm = valueOf(e.sensor_offset_mm) ?? DEFAULT_SENSOR_OFFSET_MM;
  const device = first(valueOf(e.refDevice));
  if (typeof device === 'string') out.device_id = device.startsWith(DEVICE_PREFIX) ? device.slice(DEVICE_PREFIX.length) : device;
  const devEui = valueOf(e.dev_eui);
  if (devEui !== undefined) out.dev_eui = devEui;
  return out;
}

/** Parses FIWARE WasteContainer entities (NGSI-LD, normalized or keyValues); every problem names its entity. */
export function parseWasteContainers(json: unknown, file = 'ngsi-ld', known: KnownValues = {}): Bin[] {
  const entities = entitiesOf(json);
  if (!entities) throw new BinsFileError(file, ['expected an array of WasteContainer entities (or an object holding one array)']);
  const problems: string[] = [];
  const bins: Bin[] = [];
  const seen = new Map<string, string>();
  entities.forEach((e, i) => {
    const where = `entity ${i}`;
    if (!isObject(e)) return void problems.push(`${where}: entity: not an object`);
    if (!isWasteContainerType(e.type)) return void problems.push(`${where}: type: expected WasteContainer, got ${JSON.stringify(e.type)}`);
    const own: string[] = [];
    const fields = toBinFields(e, own);
    const r = binSchema.safeParse(fields);
    for (const p of own) problems.push(`${where}: ${p}`);
    if (!r.success) {
      for (const issue of r.error.issues) problems.push(`${where}: ${issue.path.join('.') || 'entity'}: ${issue.message}`);
      return;
    }
    const refs = binRefProblems(r.data, known);
    for (const p of refs) problems.push(`${where}: ${p}`);
    if (own.length > 0 || refs.length > 0) return;
    // ids are case-insensitive: UTR-0001 and utr-0001 are one bin
    const first = seen.get(r.data.id.toLowerCase());
    if (first !== undefined) return void problems.push(`${where}: id ${r.data.id} appears twice${first === r.data.id ? '' : ` (as ${first}; ids ignore case)`}`);
    seen.set(r.data.id.toLowerCase(), r.data.id);
    bins.push(r.data);
  });
  if (problems.length > 0) throw new BinsFileError(file, problems);
  return bins;
}

/** What is known live about a bin, for the dynamic attributes of the export (times in epoch ms). */
export interface WasteContainerState {
  fill_pct: number | null;
  ts: number | null;
  status?: 'online' | 'offline' | null;
  tilt?: number | boolean | null;
  /** when the bin was last emptied, if known */
  emptied_at?: number | null;
}

const property = (value: unknown, extra: Json = {}) => ({ type: 'Property', value, ...extra });
const iso = (ms: number) => new Date(ms).toISOString();

/**
 * The model's `status` is about the container's safety (ok, lidOpen, dropped, …, unknown), not its fill —
 * fullness travels in `fillingLevel`. A tilted bin is `dropped`; a silent sensor makes it `unknown`.
 */
function containerStatus(s: WasteContainerState): string {
  if (s.tilt === true || s.tilt === 1) return 'dropped';
  if (s.status === 'offline') return 'unknown';
  return 'ok';
}

/** Bins as normalized NGSI-LD WasteContainer entities; `state` adds fillingLevel, dateObserved and status. */
export function toWasteContainers(bins: readonly Bin[], state?: (id: string) => WasteContainerState | undefined): Json[] {
  return bins.map((b) => {
    const e: Json = {
      id: `${ENTITY_PREFIX}${b.id}`,
      type: 'WasteContainer',
      location: { type: 'GeoProperty', value: { type: 'Point', coordinates: [b.lon, b.lat] } },
    };
    if (b.address) e.address = property({ streetAddress: b.address });
    e.areaServed = property(b.zone);
    e.storedWasteKind = property(wasteFromKind(b.kind));
    e.cargoVolume = property(b.capacity_l, { unitCode: 'LTR' });
    e.height = property(b.depth_mm / 1000, { unitCode: 'MTR' });
    e.sensor_offset_mm = property(b.sensor_offset_mm, { unitCode: 'MMT' });
    if (b.device_id) e.refDevice = { type: 'Relationship', object: `${DEVICE_PREFIX}${b.device_id}` };
    if (b.dev_eui) e.dev_eui = property(b.dev_eui);
    const s = state?.(b.id);
    if (s) {
      if (s.fill_pct !== null) {
        const level = Math.min(1, Math.max(0, s.fill_pct / 100));
        e.fillingLevel = property(Math.round(level * 1000) / 1000, s.ts !== null ? { observedAt: iso(s.ts) } : {});
      }
      if (s.ts !== null) e.dateObserved = property({ '@type': 'DateTime', '@value': iso(s.ts) });
      if (s.emptied_at != null) e.dateLastEmptying = property({ '@type': 'DateTime', '@value': iso(s.emptied_at) });
      e.status = property(containerStatus(s));
    }
    e['@context'] = [WASTE_MANAGEMENT_CONTEXT, NGSI_LD_CORE_CONTEXT];
    return e;
  });
}
