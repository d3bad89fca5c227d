import { fit, type ListRow } from '../whatsapp/index.js';
import { t } from './messages.js';

export interface ChoiceCandidate {
  binId: string;
  address: string;
  distanceM: number | null;
}

// Meta's limits for a list: 10 rows in all, row ids up to 200 characters, titles 24, descriptions 72
const MAX_ROWS = 10;
const MAX_ID = 200;

/**
 * The rows of the list that asks a resident which bin they mean: one per bin, the code as title, the address (or,
 * when the registry has none, the zone and kind, or the code) and the distance as description, each clipped to
 * Meta's limits, so registry content can never make the list unsendable.
 */
export function choiceRows(candidates: readonly ChoiceCandidate[], lang: string, binOf: (id: string) => { zone: string; kind: string } | undefined): (ListRow & { description: string })[] {
  const seen = new Set<string>();
  const rows: (ListRow & { description: string })[] = [];
  for (const c of candidates) {
    // the row id is what the resident's choice sends back: a bin id that does not fit cannot be offered
    if (rows.length === MAX_ROWS || seen.has(c.binId) || c.binId.length === 0 || c.binId.length > MAX_ID) continue;
    seen.add(c.binId);
    const bin = binOf(c.binId);
    const where = c.address.trim() || [bin?.zone, bin?.kind].filter((s) => s && s.trim()).join(' · ');
    const distance = c.distanceM === null || !Number.isFinite(c.distanceM) ? '' : t(lang, 'meters', { n: Math.round(c.distanceM) });
    rows.push({ id: c.binId, title: fit(c.binId, 24, c.binId), description: fit([where, distance].filter(Boolean).join(' · '), 72, c.binId) });
  }
  return rows;
}
