// Login refusal timing: how long the broker's secret check takes to refuse a wrong secret for a provisioned bin
// (never logged in, and logged in before so its secret is remembered) and any secret for a bin with no secret.
//   npx tsx bench/auth-timing.ts [--n 21]
// Runs DeviceSecrets.match on an in-memory SQLite database, interleaving the three cases so that a busy moment
// of the machine falls on all of them, and prints ONE JSON object on stdout: per case the median, p10 and p90
// in ms, and the ratio of each provisioned median to the unknown one (1.0 = indistinguishable).
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { SqliteDeviceSecrets } from '../src/broker/index.js';
import { migrate } from '../src/storage/index.js';
import { intArg, log, r1 } from './lib/harness.js';

const { values: args } = parseArgs({ options: { n: { type: 'string', default: '21' }, help: { type: 'boolean', short: 'h', default: false } } });
if (args.help) {
  process.stderr.write('usage: npx tsx bench/auth-timing.ts [--n 21]\n');
  process.exit(0);
}
const N = intArg('n', args.n, 3, 10_000);

const db = new Database(':memory:');
migrate(db);
const secrets = new SqliteDeviceSecrets(db, randomBytes(32));
const fresh = 'UTR-0001';
const remembered = 'UTR-0002';
await secrets.issue(fresh);
const secret = await secrets.issue(remembered);
if ((await secrets.match(remembered, secret)) === null) throw new Error('the issued secret does not verify');

const ms = { unknown: [] as number[], provisioned: [] as number[], remembered: [] as number[] };
const time = async (bin: string, into: number[], i: number): Promise<void> => {
  const t0 = performance.now();
  if ((await secrets.match(bin, `wrong-${i}`)) !== null) throw new Error('a wrong secret verified');
  into.push(performance.now() - t0);
};
log(`timing ${N} refusals of each kind`);
for (let i = 0; i < N; i++) {
  await time('NOPE-0001', ms.unknown, i);
  await time(fresh, ms.provisioned, i);
  await time(remembered, ms.remembered, i);
}
const q = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;
const stats = (xs: number[]) => ({ median_ms: r1(q(xs, 0.5)), p10_ms: r1(q(xs, 0.1)), p90_ms: r1(q(xs, 0.9)) });
console.log(
  JSON.stringify({
    n: N,
    unknown_bin: stats(ms.unknown),
    provisioned_wrong_secret: stats(ms.provisioned),
    remembered_wrong_secret: stats(ms.remembered),
    ratio_provisioned_to_unknown: Math.round((q(ms.provisioned, 0.5) / q(ms.unknown, 0.5)) * 100) / 100,
    ratio_remembered_to_unknown: Math.round((q(ms.remembered, 0.5) / q(ms.unknown, 0.5)) * 100) / 100,
  }),
);
