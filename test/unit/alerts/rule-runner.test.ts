import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { RuleRunner, SqliteRuleStateStore, type AlertEvents, type RuleRunnerDeps } from '../../../src/alerts/index.js';
import { ManualClock } from '../../../src/clock.js';
import { configSchema } from '../../../src/config/index.js';
import { EventBus } from '../../../src/events.js';
import { createMetrics } from '../../../src/metrics.js';
import { SqliteBinRegistry, SqliteZonesAndCrews } from '../../../src/registry/index.js';
import { SqliteBinStateStore, SqliteReadingJournal, openDatabase } from '../../../src/storage/index.js';
import type { BinRuleState } from '../../../src/rules/index.js';

const silent = pino({ level: 'silent' });

describe('RuleRunner', () => {
  it("takes a zone's rules as they are now, after the admin API changed them, and the defaults for a bin without a zone", () => {
    const db = openDatabase(fs.mkdtempSync(path.join(os.tmpdir(), 'bb-rule-runner-')));
    const config = configSchema.parse({ rules: { full_pct: 80 } });
    const registry = new SqliteBinRegistry(db);
    registry.upsert([{ id: 'A', zone: 'north', lat: 52, lon: 5, address: '', kind: 'rest', capacity_l: 240, depth_mm: 1000, sensor_offset_mm: 0 }]);
    const zones = new SqliteZonesAndCrews(db);
    zones.putZone({ id: 'north', name: 'North', rules: { full_pct: 70 } });
    const journal = new SqliteReadingJournal(db, null, new SqliteBinStateStore(db), { maxBatch: 100, delayMs: 0 }, createMetrics(), silent);
    const rules = new RuleRunner({
      // rulesFor reads no store
      decisions: { shared: false } as RuleRunnerDeps['decisions'],
      registry,
      states: new SqliteRuleStateStore<BinRuleState>(db, journal),
      config,
      zones,
      events: new EventBus<AlertEvents>(silent),
      log: silent,
      clock: new ManualClock(0),
    });
    expect(rules.rulesFor('A').full_pct).toBe(70);
    expect(rules.rulesFor('A')).toEqual(rules.rulesFor('A'));
    zones.putZone({ id: 'north', name: 'North', rules: { full_pct: 90, clear_pct: 40 } });
    expect(rules.rulesFor('A')).toMatchObject({ full_pct: 90, clear_pct: 40 });
    zones.deleteZone('north');
    expect(rules.rulesFor('A').full_pct).toBe(80);
    expect(rules.rulesFor('no-such-bin').full_pct).toBe(80);
  });
});
