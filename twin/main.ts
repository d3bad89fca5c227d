// npm run twin -- --bins FILE --days N --seed S [--strategy binbridge|fixed|both] [--config FILE] [--json] [--report FILE.html]
// The city twin (issue 10): runs the real binbridge on a manual clock against the firmware simulator's bin model,
// with simulated crews closing the loop, and scores its decisions against a fixed collection schedule.
// With --json: exactly one JSON object on stdout; progress goes to stderr. Exit 0, 1 on a failed run, 2 on bad options.
import fs from 'node:fs';
import { commandLine } from '../bench/lib/command-line.js';
import { writeReport } from './report.js';
import type { Strategy } from './run.js';
import { runTwin } from './twin.js';

const USAGE = `usage: npm run twin -- --bins FILE --days N --seed S [--strategy binbridge|fixed|both] [--config FILE] [--json] [--report FILE.html]
  --bins FILE      the city's bins (CSV, GeoJSON or NGSI-LD, as binbridge reads them)
  --days N         simulated days (1..366)
  --seed S         the seed of the bins' fill, noise, faults and crews
  --strategy       binbridge, fixed or both (default both)
  --config FILE    binbridge's config (default config/binbridge.yaml): rules, dispatch, crews, time zone
  --json           the scorecard as one JSON object on stdout
  --report FILE    a self-contained HTML page with the charts`;

const args = commandLine('twin', USAGE, {
  bins: { type: 'string' },
  days: { type: 'string' },
  seed: { type: 'string' },
  strategy: { type: 'string', default: 'both' },
  config: { type: 'string' },
  json: { type: 'boolean', default: false },
  report: { type: 'string' },
});
const { values, int } = args;
// annotated, so that a call narrows like a throw
const fail: (message: string) => never = args.fail;
if (!values.bins) fail('--bins FILE is required');
if (!fs.existsSync(values.bins)) fail(`--bins ${values.bins}: no such file`);
const days = int('days', values.days, 1, 366);
const seed = int('seed', values.seed, 0, 2_147_483_647);
const strategies: Strategy[] = { both: ['binbridge', 'fixed'] as Strategy[], binbridge: ['binbridge'] as Strategy[], fixed: ['fixed'] as Strategy[] }[values.strategy] ?? fail(`--strategy must be binbridge, fixed or both (got ${values.strategy})`);

try {
  const result = await runTwin({ binsFile: values.bins, configFile: values.config, days, seed, strategies, progress: (line) => process.stderr.write(`twin: ${line}\n`) });
  if (values.report) {
    writeReport(values.report, result);
    process.stderr.write(`twin: report written to ${values.report}\n`);
  }
  if (values.json) process.stdout.write(`${JSON.stringify(result.scorecard)}\n`);
  else process.stdout.write(`${JSON.stringify(result.scorecard, null, 2)}\n`);
  process.exit(0);
} catch (err) {
  process.stderr.write(`twin: the run failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
}
