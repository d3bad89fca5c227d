import type { RulesConfig } from '../config/index.js';

/** defaults < zone override < bin override; keys left undefined in an override do not count. */
export function resolveRules(
  defaults: RulesConfig,
  zone?: Partial<RulesConfig>,
  bin?: Partial<RulesConfig>,
): RulesConfig {
  const merged: RulesConfig = { ...defaults, ...definedOnly(zone), ...definedOnly(bin) };
  // an override may raise clear_pct past full_pct; the band would invert and every reading would flip the state
  if (merged.clear_pct > merged.full_pct) merged.clear_pct = merged.full_pct;
  return merged;
}

function definedOnly(partial: Partial<RulesConfig> | undefined): Partial<RulesConfig> {
  if (!partial) return {};
  return Object.fromEntries(Object.entries(partial).filter(([, v]) => v !== undefined)) as Partial<RulesConfig>;
}
