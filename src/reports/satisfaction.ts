import type { SatisfactionRow } from './report-store.js';

/** Answers to the thank-you's question over some reports: how many were asked, answered, happy (👍) or not (👎). */
export interface SatisfactionFigures {
  asked: number;
  answered: number;
  up: number;
  down: number;
  /** 👍 per answer, 0 to 1; null when nobody answered */
  satisfaction: number | null;
  /** answers per resident asked; null when nobody was asked */
  response_rate: number | null;
}

export interface Satisfaction {
  total: SatisfactionFigures;
  /** by the zone of the bin when its report was closed */
  zones: (SatisfactionFigures & { zone: string | null })[];
  /** by the crew whose Done closed the report; `crew_id` null: the sensors saw the bin emptied first */
  crews: (SatisfactionFigures & { crew_id: string | null })[];
}

const ratio = (a: number, b: number): number | null => (b === 0 ? null : Math.round((a / b) * 1000) / 1000);

function figures(rows: readonly SatisfactionRow[]): SatisfactionFigures {
  const asked = rows.reduce((n, r) => n + r.asked, 0);
  const up = rows.reduce((n, r) => n + r.up, 0);
  const down = rows.reduce((n, r) => n + r.down, 0);
  return { asked, answered: up + down, up, down, satisfaction: ratio(up, up + down), response_rate: ratio(up + down, asked) };
}

function by<K extends string | null>(rows: readonly SatisfactionRow[], key: (r: SatisfactionRow) => K): [K, SatisfactionRow[]][] {
  const groups = new Map<K, SatisfactionRow[]>();
  for (const r of rows) groups.set(key(r), [...(groups.get(key(r)) ?? []), r]);
  return [...groups.entries()].sort(([a], [b]) => (a ?? '\uffff').localeCompare(b ?? '\uffff'));
}

/** The store's counts per zone and crew, summed per zone, per crew and in all. */
export function summarizeSatisfaction(rows: readonly SatisfactionRow[]): Satisfaction {
  return {
    total: figures(rows),
    zones: by(rows, (r) => r.zone).map(([zone, rs]) => ({ zone, ...figures(rs) })),
    crews: by(rows, (r) => r.crew).map(([crew_id, rs]) => ({ crew_id, ...figures(rs) })),
  };
}
