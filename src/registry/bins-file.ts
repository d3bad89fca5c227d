import fs from 'node:fs';
import path from 'node:path';
import { parse as parseCsv } from 'csv-parse/sync';
import { z } from 'zod';
import { binSchema, type Bin } from './bin.js';
import { isNgsiLd, parseWasteContainers } from './fiware.js';

export class BinsFileError extends Error {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`bins file ${file}: ${problems.length} problem(s):\n  ${problems.slice(0, 20).join('\n  ')}${problems.length > 20 ? `\n  … and ${problems.length - 20} more` : ''}`);
    this.name = 'BinsFileError';
  }
}

const featureCollection = z.object({
  type: z.literal('FeatureCollection'),
  features: z.array(
    z.object({
      type: z.literal('Feature'),
      geometry: z.object({ type: z.literal('Point'), coordinates: z.tuple([z.number(), z.number()]).rest(z.number()) }),
      properties: z.record(z.string(), z.unknown()).nullable(),
      id: z.union([z.string(), z.number()]).optional(),
    }),
  ),
});

function validate(rows: { where: string; value: unknown }[], file: string): Bin[] {
  const problems: string[] = [];
  const bins: Bin[] = [];
  const seen = new Set<string>();
  for (const { where, value } of rows) {
    const r = binSchema.safeParse(value);
    if (!r.success) {
      for (const i of r.error.issues) problems.push(`${where}: ${i.path.join('.') || 'row'}: ${i.message}`);
      continue;
    }
    if (seen.has(r.data.id)) {
      problems.push(`${where}: id ${r.data.id} appears twice`);
      continue;
    }
    seen.add(r.data.id);
    bins.push(r.data);
  }
  if (problems.length > 0) throw new BinsFileError(file, problems);
  return bins;
}

/** Parses bins from CSV text (header: id,lat,lon,address,zone,kind,capacity_l,depth_mm,sensor_offset_mm). */
export function parseBinsCsv(text: string, file = 'csv'): Bin[] {
  let records: Record<string, string>[];
  try {
    records = parseCsv(text, { columns: (h: string[]) => h.map((c) => c.trim()), skip_empty_lines: true, trim: true, bom: true });
  } catch (err) {
    throw new BinsFileError(file, [(err as Error).message]);
  }
  // line 1 is the header
  return validate(records.map((value, i) => ({ where: `line ${i + 2}`, value })), file);
}

/** Parses bins from a GeoJSON FeatureCollection of Points whose properties carry the CSV's columns. */
export function parseBinsGeoJson(value: unknown, file = 'geojson'): Bin[] {
  const r = featureCollection.safeParse(value);
  if (!r.success) throw new BinsFileError(file, r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
  return validate(
    r.data.features.map((f, i) => ({
      where: `feature ${i}`,
      value: { id: f.id, ...f.properties, lon: f.geometry.coordinates[0], lat: f.geometry.coordinates[1] },
    })),
    file,
  );
}

/** Reads a bins file, choosing the format from its content (JSON) or extension. */
export function readBinsFile(file: string): Bin[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new BinsFileError(file, [(err as Error).message]);
  }
  const ext = path.extname(file).toLowerCase();
  if (ext === '.json' || ext === '.geojson' || text.trimStart().startsWith('{') || text.trimStart().startsWith('[')) {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw new BinsFileError(file, [`not valid JSON: ${(err as Error).message}`]);
    }
    return isNgsiLd(json) ? parseWasteContainers(json, file) : parseBinsGeoJson(json, file);
  }
  return parseBinsCsv(text, file);
}
