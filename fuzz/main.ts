// npm run fuzz -- [--count 20000] [--seconds S] [--seed N] [--only mqtt,decoders,http,webhook,chat] [--json] [--keep-temp] [--replay T:P:I]
// Fuzzes binbridge (a child process, loopback only) and checks that it never crashes, keeps its memory bounded,
// never blocks its event loop past 100 ms, keeps acknowledging a well-behaved device and stores every reading it
// acknowledged. Prints counts per target and a summary line (with --json: one JSON object on stdout); progress
// goes to stderr. Exit code 0 when nothing was found, 1 otherwise, 2 for bad options.
import { commandLine } from '../bench/lib/command-line.js';
import { runFuzz, type FuzzOptions, type FuzzReport } from './run.js';
import { TARGETS, type TargetName } from './stats.js';

const USAGE = `usage: npm run fuzz -- [--count N] [--seconds S] [--seed S] [--only mqtt|decoders|http|webhook|chat[,...]] [--json] [--keep-temp]
       npm run fuzz -- --seed S --replay TARGET:PHASE:INDEX     (as a finding's "at" says)
  --count N     inputs in all, shared by the targets (default 20000)
  --seconds S   at most S seconds of sending (default: count / 25, at least 600); bridge start-ups and
                end-of-phase checks come on top
  --seed S      makes the inputs reproducible (default: from the clock, printed)
  --only T      one target or a comma-separated list
  --json        one JSON object on stdout instead of the text report
  --keep-temp   keep the bridges' data folders and logs
  --replay      send one input again (mqtt|http|webhook|chat, auth-devices|auth-none, its index) to a fresh
                bridge, print it in full with the answer, and run the same checks`;

const args = commandLine('fuzz', USAGE, {
  count: { type: 'string', default: '20000' },
  seconds: { type: 'string' },
  seed: { type: 'string' },
  only: { type: 'string' },
  json: { type: 'boolean', default: false },
  'keep-temp': { type: 'boolean', default: false },
  replay: { type: 'string' },
});
const { values, int } = args;
// annotated, so that a call narrows like a throw
const fail: (message: string) => never = args.fail;

const count = int('count', values.count, 1, 100_000_000);
// a count is meant to be sent: the default time bound leaves room for 25 inputs a second (a slow, shared machine)
const seconds = values.seconds === undefined ? Math.max(600, Math.ceil(count / 25)) : int('seconds', values.seconds, 1, 7 * 86_400);
const seed = values.seed === undefined ? Date.now() % 2_147_483_647 : int('seed', values.seed, -2_147_483_648, 2_147_483_647);
const only = (values.only ? values.only.split(',').map((s) => s.trim()) : [...TARGETS]) as TargetName[];
for (const t of only) if (!TARGETS.includes(t)) fail(`--only: unknown target ${t} (one of ${TARGETS.join(', ')})`);

let replay: FuzzOptions['replay'];
if (values.replay !== undefined) {
  const m = /^(mqtt|http|webhook|chat):(auth-devices|auth-none):(\d+)$/.exec(values.replay);
  if (!m) fail(`--replay TARGET:PHASE:INDEX, e.g. mqtt:auth-none:2678 (got ${values.replay})`);
  if (values.seed === undefined) fail('--replay needs the --seed of the run that found it');
  replay = { target: m[1] as 'mqtt', phase: m[2] as 'auth-none', index: Number(m[3]) };
}

const log = (line: string): void => void process.stderr.write(`fuzz: ${line}\n`);

// Ctrl-C and kill: exit through process.exit, so the run's exit handler stops the bridges it started
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    log(`${sig}: stopping`);
    process.exit(130);
  });
}

// bounded in time whatever happens: the sending stops at --seconds, the checks get a generous margin after
const hard = setTimeout(() => {
  log(`hard timeout after ${seconds + 600} s`);
  process.exit(124);
}, (seconds + 600) * 1000);
hard.unref();

function text(r: FuzzReport): string {
  const out: string[] = [];
  out.push('', 'target      inputs   refusals  inputs/s  answers');
  for (const t of r.targets as { target: string; inputs: number; refusals: number; inputs_per_s: number | null; answers: Record<string, number> }[]) {
    const answers = Object.entries(t.answers)
      .filter(([k]) => !k.startsWith('mutation:') && !k.startsWith('finding:'))
      .sort((x, y) => y[1] - x[1])
      .slice(0, 14)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
    out.push(`${t.target.padEnd(10)} ${String(t.inputs).padStart(7)} ${String(t.refusals).padStart(10)} ${String(t.inputs_per_s ?? '-').padStart(9)}  ${answers}`);
  }
  for (const p of r.phases) {
    out.push(
      '',
      `${p.name}: ${p.seconds} s; RSS ${p.rss.baselineMb} MB after warm-up, max ${p.rss.maxMb} MB (bound ${p.rss.boundMb} MB, peak ${p.rss.peakMb ?? '?'} MB); ` +
        `event loop max ${p.maxBlockedMs} ms blocked, ${p.maxLagMs} ms late (${p.lagEvents} interval(s) over the bound, ${p.scrapes} scrapes); good device ${p.good.acked}/${p.good.sent} acknowledged ` +
        `(slowest ${p.good.maxAckMs} ms, ${p.good.disconnects} disconnects), ${p.good.stored ?? '?'} stored; inbox ${p.inbox ? `${p.inbox.pending} pending, ${p.inbox.failed} failed` : '?'}; ` +
        `exit ${p.exit ? (p.exit.forced ? 'forced' : `${p.exit.code ?? p.exit.signal}`) : '?'}`,
    );
    for (const l of p.errorLogLines.slice(0, 5)) out.push(`  log: ${l.slice(0, 300)}`);
  }
  out.push('', 'checks:');
  for (const c of r.checks) out.push(`  ${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}`);
  if (r.findings.length > 0) {
    out.push('', 'findings:');
    r.findings.forEach((f, i) => {
      out.push(`  ${i + 1}. [${f.check}${f.target ? ` · ${f.target}` : ''}${f.phase ? ` · ${f.phase}` : ''}] ${f.message}`);
      if (f.input) out.push(...f.input.split('\n').map((l) => `       ${l}`));
      if (f.at) out.push(`       at: ${f.at}`);
    });
  }
  if (r.replayed) out.push('', 'replayed:', ...r.replayed);
  out.push('', r.summary);
  return out.join('\n');
}

runFuzz({ count, seconds, seed, only: replay ? [replay.target] : only, keepTemp: values['keep-temp'], log, replay }).then(
  (report) => {
    process.stdout.write(values.json ? `${JSON.stringify(report)}\n` : `${text(report)}\n`);
    process.exit(report.ok ? 0 : 1);
  },
  (err: unknown) => {
    log(`failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  },
);
