import { describe, expect, it } from 'vitest';
import type { RulesConfig } from '../../../src/config/index.js';
import { resolveRules } from '../../../src/rules/index.js';
import { RULES } from './feed.js';

describe('resolveRules: defaults < zone < bin', () => {
  it.each<[string, Partial<RulesConfig> | undefined, Partial<RulesConfig> | undefined, Partial<RulesConfig>]>([
    ['defaults only', undefined, undefined, {}],
    ['zone overrides defaults', { full_pct: 70, debounce: 3 }, undefined, { full_pct: 70, debounce: 3 }],
    ['bin overrides defaults', undefined, { fire_c: 50 }, { fire_c: 50 }],
    ['bin overrides zone', { full_pct: 70, clear_pct: 20 }, { full_pct: 90 }, { full_pct: 90, clear_pct: 20 }],
    ['undefined keys do not override', { full_pct: 70 }, { full_pct: undefined }, { full_pct: 70 }],
    ['clear_pct never above full_pct', undefined, { full_pct: 50, clear_pct: 60 }, { full_pct: 50, clear_pct: 50 }],
  ])('%s', (_name, zone, bin, changes) => {
    expect(resolveRules(RULES, zone, bin)).toEqual({ ...RULES, ...changes });
  });

  it('does not modify its inputs', () => {
    const zone = { full_pct: 70 };
    const defaults = { ...RULES };
    resolveRules(defaults, zone, { debounce: 4 });
    expect(defaults).toEqual(RULES);
    expect(zone).toEqual({ full_pct: 70 });
  });
});
