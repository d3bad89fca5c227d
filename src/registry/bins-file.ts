import fs from 'node:fs';
import path from 'node:path';
import { parse as parseCsvStream } from 'csv-parse';
import { parse as parseCsv } from 'csv-parse/sync';
import { z } from 'zod';
import { nextTurn } from '../clock.js';
import { closest, didYouMean } from '../suggest.js';
import { binSchema, type Bin } from './bin.js';
import { isNgsiLd, parseWasteContainers } from './fiware.js';

/** How many problems the message shows; `problems` always holds them all. */
const SHOWN = 20;

export class BinsFileError extends Error {
  constructor(
    readonly file: string,
    readonly problems: string[],
    /** the file is not there (or not readable): one line says so */
    readonly notFound = false,
  ) {
    super(
      notFound
        ? `bins file not found: ${file}`
        : `bins file ${file}: ${problems.length} problem(s):\n  ${problems.slice(0, SHOWN).join('\n  ')}${problems.length > SHOWN ? `\n  … and ${problems.length - SHOWN} more` : ''}`,
    );
    this.name = 'BinsFileError';
  }
}

/**
 * The zones and kinds a bin may name. null: any (with no zones configured, the bins file's zones are the zones).
 */
export interface KnownValues {
  zones?: readonly string[] | null;
  kinds?: readonly string[] | null;
}

/** The known values a config gives: its zones (none: any, the bins file's own) and its registry.kinds. */
export function knownFromConfig(config: { zones: readonly { id: string }[]; registry: { kinds: readonly string[] } }): KnownValues {
  return { zones: config.zones.length > 0 ? config.zones.map((z) => z.id) : null, kinds: config.registry.kinds };
}

/** What is wrong with a bin's zone and kind, one problem per field, each with the closest known value or the list. */
export function binRefProblems(bin: { zone: string; kind: string }, known: KnownValues = {}): string[] {
  const out: string[] = [];
  if (known.zones && !known.zones.includes(bin.zone)) out.push(`zone: unknown zone ${JSON.stringify(bin.zone)}${didYouMean(bin.zone, known.zones, 'known zones')}`);
  if (known.kinds && !known.kinds.includes(bin.kind)) out.push(`kind: unknown kind ${JSON.stringify(bin.kind)}${didYouMean(bin.kind, known.kinds, 'known kinds')}`);
  return out;
}

interface Row {
  where: string;
  value: unknown;
  /** problems found before the schema's turn (a short CSV line, a bad geometry) */
  problems?: string[];
  /** fields whose schema problems are already said by `problems` */
  skip?: readonly string[];
}

const NUMBER_COLUMNS = ['lat', 'lon', 'capacity_l', 'depth_mm', 'sensor_offset_mm'] as const;

/**
 * Numbers given as text (every CSV field) that are not numbers, with the value as written: the schema would only
 * see what coercion made of them (NaN, or 0 for an empty field, which would put a bin at latitude 0). An empty
 * optional column takes its default.
 */
function numberProblems(value: unknown): { problems: string[]; skip: string[] } {
  const problems: string[] = [];
  const skip: string[] = [];
  if (typeof value !== 'object' || value === null) return { problems, skip };
  for (const column of NUMBER_COLUMNS) {
    const v = (value as Record<string, unknown>)[column];
    if (typeof v !== 'string') continue;
    const text = v.trim();
    if (text === '' && !REQUIRED_COLUMNS.includes(column)) continue;
    if (text === '') problems.push(`${column}: empty; a number is needed`);
    else if (!Number.isFinite(Number(text))) problems.push(`${column}: ${JSON.stringify(v)} is not a number`);
    else continue;
    skip.push(column);
  }
  return { problems, skip };
}

/** Validates rows one by one and collects every problem of every row before refusing the lot. */
function validator(file: string, known: KnownValues): { add: (row: Row) => void; finish: () => Bin[] } {
  const problems: string[] = [];
  const bins: Bin[] = [];
  const seen = new Map<string, string>();
  const add = (row: Row): void => {
    const numbers = numberProblems(row.value);
    const own = [...(row.problems ?? []), ...numbers.problems].map((p) => `${row.where}: ${p}`);
    for (const p of own) problems.push(p);
    if (row.value === undefined) return;
    const skip = [...(row.skip ?? []), ...numbers.skip];
    const r = binSchema.safeParse(row.value);
    if (!r.success) {
      for (const i of r.error.issues) if (!skip.includes(String(i.path[0]))) problems.push(`${row.where}: ${i.path.join('.') || 'row'}: ${i.message}`);
      return;
    }
    const refs = binRefProblems(r.data, known);
    for (const p of refs) problems.push(`${row.where}: ${p}`);
    if (refs.length > 0 || own.length > 0) return;
    // ids are case-insensitive: UTR-0001 and utr-0001 are one bin
    const key = r.data.id.toLowerCase();
    const first = seen.get(key);
    if (first !== undefined) {
      problems.push(`${row.where}: id ${r.data.id} appears twice${first === r.data.id ? '' : ` (as ${first}; ids ignore case)`}`);
      return;
    }
    seen.set(key, r.data.id);
    bins.push(r.data);
  };
  const finish = (): Bin[] => {
    if (problems.length > 0) throw new BinsFileError(file, problems);
    return bins;
  };
  return { add, finish };
}

function validate(rows: Row[], file: string, known: KnownValues): Bin[] {
  const v = validator(file, known);
  for (const row of rows) v.add(row);
  return v.finish();
}


/** Rows handled between two turns of the event loop: some 10 ms of work, so an import never stalls the readings. */
const ROWS_PER_TURN = 500;

/** validate(), yielding to the event loop every ROWS_PER_TURN rows (a request's import of a whole city). */
async function validateYielding(rows: readonly Row[] | ((i: number) => Row), count: number, file: string, known: KnownValues): Promise<Bin[]> {
  const v = validator(file, known);
  const at = typeof rows === 'function' ? rows : (i: number) => rows[i]!;
  for (let i = 0; i < count; i++) {
    if (i > 0 && i % ROWS_PER_TURN === 0) await nextTurn();
    v.add(at(i));
  }
  return v.finish();
}

const COLUMNS = Object.keys(binSchema.shape);
const REQUIRED_COLUMNS = COLUMNS.filter((c) => !binSchema.shape[c as keyof typeof binSchema.shape].safeParse(undefined).success);

/** A missing required column, or a column that looks like a misspelt known one; other extra columns are ignored. */
function headerProblems(header: string[]): string[] {
  const unknown = header.filter((h) => !COLUMNS.includes(h));
  const out: string[] = [];
  for (const c of REQUIRED_COLUMNS) {
    if (header.includes(c)) continue;
    const near = unknown.find((u) => closest(u, [c]) !== undefined);
    out.push(`header: no column ${c}${near !== undefined ? ` (is ${near} meant to be ${c}?)` : ''}`);
  }
  for (const u of unknown) {
    const near = closest(u, COLUMNS);
    if (near !== undefined && header.includes(near)) continue;
    if (near !== undefined && !REQUIRED_COLUMNS.includes(near)) out.push(`header: unknown column ${u}; did you mean ${near}?`);
  }
  return out;
}

interface CsvInfo {
  lines: number;
  empty_lines: number;
  error?: { code: string; record?: unknown[] };
}

const CSV_OPTIONS = {
  skip_empty_lines: true,
  trim: true,
  bom: true,
  info: true,
  // a short or long line is reported with the others, not as the only problem
  relax_column_count: true,
} as const;

type CsvRecord = { record: Record<string, string>; info: CsvInfo };

/** The header's problems, else each record as a row named by its line (csv-parse counts the line a record ends on). */
function csvRows(header: string[], records: readonly CsvRecord[], file: string): Row[] {
  const bad = headerProblems(header);
  if (bad.length > 0) throw new BinsFileError(file, bad);
  // a record starts after the previous one and any blank lines
  let endOfPrevious = 1;
  let blankBefore = 0;
  return records.map(({ record, info }): Row => {
    const line = endOfPrevious + 1 + (info.empty_lines - blankBefore);
    endOfPrevious = info.lines;
    blankBefore = info.empty_lines;
    const where = `line ${line}`;
    if (info.error?.code === 'CSV_RECORD_INCONSISTENT_COLUMNS') {
      return { where, value: undefined, problems: [`expected ${header.length} fields (the header's), got ${info.error.record?.length ?? '?'}`] };
    }
    return { where, value: record };
  });
}

/** Parses bins from CSV text (header: id,lat,lon,address,zone,kind,capacity_l,depth_mm,sensor_offset_mm). */
export function parseBinsCsv(text: string, file = 'csv', known: KnownValues = {}): Bin[] {
  let header: string[] = [];
  let records: CsvRecord[];
  try {
    records = parseCsv(text, { ...CSV_OPTIONS, columns: (h: string[]) => (header = h.map((c) => c.trim())) }) as unknown as CsvRecord[];
  } catch (err) {
    throw new BinsFileError(file, [(err as Error).message]);
  }
  return validate(csvRows(header, records, file), file, known);
}

/** Text fed to the CSV parser between two turns of the event loop. */
const CSV_SLICE = 32 * 1024;

/**
 * parseBinsCsv for a request: the same rows and problems, but parsed a slice and validated a few hundred rows at a
 * time, yielding to the event loop in between, so that importing a city (20,000 bins) never blocks it.
 */
export async function parseBinsCsvYielding(text: string, file = 'csv', known: KnownValues = {}): Promise<Bin[]> {
  let header: string[] = [];
  const records: CsvRecord[] = [];
  let failure: Error | null = null;
  const parser = parseCsvStream({ ...CSV_OPTIONS, columns: (h: string[]) => (header = h.map((c) => c.trim())) });
  parser.on('data', (r: CsvRecord) => records.push(r));
  parser.on('error', (err: Error) => (failure ??= err));
  const ended = new Promise<void>((resolve) => {
    parser.on('end', resolve);
    parser.on('error', () => resolve());
  });
  for (let at = 0; at < text.length && !failure; at += CSV_SLICE) {
    parser.write(text.slice(at, at + CSV_SLICE));
    await nextTurn();
  }
  if (!failure) parser.end();
  await ended;
  if (failure) throw new BinsFileError(file, [(failure as Error).message]);
  const rows = csvRows(header, records, file);
  return validateYielding(rows, rows.length, file, known);
}

const featureCollection = z.object({ type: z.literal('FeatureCollection'), features: z.array(z.unknown()) });
const feature = z.object({
  type: z.literal('Feature'),
  properties: z.record(z.string(), z.unknown()).nullable().optional(),
  id: z.union([z.string(), z.number()]).optional(),
});
const point = z.object({ type: z.literal('Point'), coordinates: z.tuple([z.number(), z.number()]).rest(z.number()) });

function geoJsonFeatures(value: unknown, file: string): unknown[] {
  const r = featureCollection.safeParse(value);
  if (!r.success) throw new BinsFileError(file, r.error.issues.map((i) => `${i.path.join('.') || 'document'}: ${i.message}`));
  return r.data.features;
}

function geoJsonRow(raw: unknown, i: number): Row {
  const f = feature.safeParse(raw);
  if (!f.success) return { where: `feature ${i}`, value: undefined, problems: ['not a GeoJSON Feature'] };
  const id = f.data.properties?.id ?? f.data.id;
  const where = `feature ${i}${typeof id === 'string' || typeof id === 'number' ? ` (${id})` : ''}`;
  const g = point.safeParse((raw as { geometry?: unknown }).geometry);
  const [lon, lat] = g.success ? g.data.coordinates : [];
  return {
    where,
    value: { id: f.data.id, ...f.data.properties, lon, lat },
    ...(g.success ? {} : { problems: ['geometry: a Point with [lon, lat]'], skip: ['lat', 'lon'] }),
  };
}

/** Parses bins from a GeoJSON FeatureCollection of Points whose properties carry the CSV's columns. */
export function parseBinsGeoJson(value: unknown, file = 'geojson', known: KnownValues = {}): Bin[] {
  return validate(geoJsonFeatures(value, file).map(geoJsonRow), file, known);
}

/** parseBinsGeoJson for a request: a few hundred features at a time, yielding to the event loop in between. */
export async function parseBinsGeoJsonYielding(value: unknown, file = 'geojson', known: KnownValues = {}): Promise<Bin[]> {
  const features = geoJsonFeatures(value, file);
  return validateYielding((i) => geoJsonRow(features[i], i), features.length, file, known);
}

/** The error for a bins file that cannot be read: "not found" is the usual case, and says only that. */
export function unreadable(file: string, err: unknown): BinsFileError {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return new BinsFileError(file, ['not found'], true);
  return new BinsFileError(file, [(err as Error).message]);
}

/** Reads a bins file, choosing the format from its content (JSON) or extension. */
export function readBinsFile(file: string, known: KnownValues = {}): Bin[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw unreadable(file, err);
  }
  const ext = path.extname(file).toLowerCase();
  if (ext === '.json' || ext === '.geojson' || text.trimStart().startsWith('{') || text.trimStart().startsWith('[')) {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw new BinsFileError(file, [`not valid JSON: ${(err as Error).message}`]);
    }
    return isNgsiLd(json) ? parseWasteContainers(json, file, known) : parseBinsGeoJson(json, file, known);
  }
  return parseBinsCsv(text, file, known);
}
