import { readFile } from 'node:fs/promises';
import { parse } from 'csv-parse/sync';
import { z } from 'zod';

/** CSV cells arrive as text, GeoJSON properties as numbers or text. */
const numeric = z.preprocess(
  (value) => (typeof value === 'string' ? (value.trim() === '' ? undefined : Number(value)) : value),
  z.number({ error: (issue) => (issue.input === undefined ? 'is missing' : 'is not a number') }),
);

export const simBinSchema = z.object({
  id: z.string().trim().min(1, 'is empty'),
  lat: numeric.pipe(z.number().min(-90).max(90)),
  lon: numeric.pipe(z.number().min(-180).max(180)),
  address: z.string().default(''),
  zone: z.string().trim().min(1, 'is empty'),
  kind: z.string().trim().min(1, 'is empty'),
  capacity_l: numeric.pipe(z.number().positive()),
  depth_mm: numeric.pipe(z.number().positive()),
  sensor_offset_mm: numeric.pipe(z.number().min(0)),
  // LoRaWAN ids (network server device id, DevEUI) when the bins file has these columns
  device_id: z.string().trim().optional(),
  dev_eui: z.string().trim().optional(),
});
export type SimBin = z.infer<typeof simBinSchema>;

const featureCollectionSchema = z.object({
  type: z.literal('FeatureCollection'),
  features: z.array(
    z.object({
      type: z.literal('Feature'),
      geometry: z.object({ type: z.literal('Point'), coordinates: z.tuple([z.number(), z.number()]).rest(z.number()) }).nullish(),
      properties: z.record(z.string(), z.unknown()),
    }),
  ),
});

export class BinsFileError extends Error {
  override readonly name = 'BinsFileError';
}

function describe(issues: readonly z.core.$ZodIssue[]): string {
  return issues.map((i) => `${i.path.join('.') || 'value'} ${i.message}`).join('; ');
}

function validateRows(rows: readonly unknown[], source: string, rowLabel: (index: number) => string): SimBin[] {
  const bins: SimBin[] = [];
  const seen = new Set<string>();
  rows.forEach((row, index) => {
    const result = simBinSchema.safeParse(row);
    if (!result.success) throw new BinsFileError(`${source}: ${rowLabel(index)}: ${describe(result.error.issues)}`);
    if (seen.has(result.data.id)) throw new BinsFileError(`${source}: ${rowLabel(index)}: duplicate bin id "${result.data.id}"`);
    seen.add(result.data.id);
    bins.push(result.data);
  });
  return bins;
}

/** Parses a bins file's text: a GeoJSON FeatureCollection when it is JSON, else CSV with the registry's header. */
export function parseBinsFile(text: string, source: string): SimBin[] {
  const body = text.replace(/^\uFEFF/, '');
  if (body.trimStart().startsWith('{')) {
    let json: unknown;
    try {
      json = JSON.parse(body);
    } catch (err) {
      throw new BinsFileError(`${source}: not valid JSON (${(err as Error).message})`);
    }
    const collection = featureCollectionSchema.safeParse(json);
    if (!collection.success) throw new BinsFileError(`${source}: not a GeoJSON FeatureCollection of Points: ${describe(collection.error.issues)}`);
    // GeoJSON positions are [lon, lat]; properties may repeat them
    const rows = collection.data.features.map((f) => ({ lon: f.geometry?.coordinates[0], lat: f.geometry?.coordinates[1], ...f.properties }));
    return validateRows(rows, source, (i) => `feature ${i}`);
  }
  let records: Record<string, string>[];
  try {
    records = parse(body, { columns: true, skip_empty_lines: true, trim: true });
  } catch (err) {
    throw new BinsFileError(`${source}: not valid CSV (${(err as Error).message})`);
  }
  // line 1 is the header
  return validateRows(records, source, (i) => `line ${i + 2}`);
}

export async function readBinsFile(path: string): Promise<SimBin[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new BinsFileError(code === 'ENOENT' ? `bins file ${path} not found (use --bins-file PATH)` : `cannot read bins file ${path}: ${(err as Error).message}`);
  }
  return parseBinsFile(text, path);
}
