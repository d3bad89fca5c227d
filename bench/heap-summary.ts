// Summarises V8 heap snapshots (.heapsnapshot, e.g. from bench:connections --heap-snapshot) by class: count and
// self size of the objects of each constructor (strings, arrays, code and the engine's own objects by kind).
//   npx tsx bench/heap-summary.ts <snapshot> [--top 40]
//   npx tsx bench/heap-summary.ts <before> <after> [--per 3000] [--top 40]
// With two snapshots it prints what grew from the first to the second, largest first; --per divides the growth
// (e.g. by the number of devices connected in between: bytes per device).
import fs from 'node:fs';
import { parseArgs } from 'node:util';

const USAGE = 'usage: npx tsx bench/heap-summary.ts <snapshot> [<snapshot after>] [--per N] [--top 40]';
function usage(message: string): never {
  process.stderr.write(`bench/heap-summary: ${message}\n${USAGE}\n`);
  process.exit(2);
}
let args;
try {
  args = parseArgs({ options: { per: { type: 'string', default: '1' }, top: { type: 'string', default: '40' } }, allowPositionals: true });
} catch (err) {
  usage((err as Error).message);
}
const PER = Number(args.values.per);
const TOP = Number(args.values.top);
const files = args.positionals;
if (!Number.isInteger(PER) || PER < 1 || !Number.isInteger(TOP) || TOP < 1) usage('--per and --top are whole numbers from 1');
if (files.length < 1 || files.length > 2) usage('one snapshot, or two to compare');

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

type Classes = Map<string, { count: number; bytes: number }>;

function classes(file: string): Classes {
  const s = JSON.parse(fs.readFileSync(file, 'utf8')) as Snapshot;
  const fields = s.snapshot.meta.node_fields;
  const types = s.snapshot.meta.node_types[0];
  const width = fields.length;
  const iType = fields.indexOf('type');
  const iName = fields.indexOf('name');
  const iSize = fields.indexOf('self_size');
  const out: Classes = new Map();
  for (let i = 0; i < s.nodes.length; i += width) {
    const type = types[s.nodes[i + iType]!]!;
    const name = s.strings[s.nodes[i + iName]!]!;
    // a string's name is its text, a number's its value: one class each
    const key = type === 'object' || type === 'closure' || type === 'native' || type === 'hidden' || type === 'array' || type === 'code' ? `${type}:${name.slice(0, 80)}` : `(${type})`;
    const c = out.get(key) ?? { count: 0, bytes: 0 };
    c.count++;
    c.bytes += s.nodes[i + iSize]!;
    out.set(key, c);
  }
  return out;
}

const first = classes(files[0]!);
const rows: { cls: string; count: number; bytes: number }[] = [];
if (files.length === 1) {
  for (const [cls, c] of first) rows.push({ cls, ...c });
} else {
  const second = classes(files[1]!);
  for (const [cls, c] of second) {
    const b = first.get(cls) ?? { count: 0, bytes: 0 };
    rows.push({ cls, count: (c.count - b.count) / PER, bytes: (c.bytes - b.bytes) / PER });
  }
  for (const [cls, b] of first) if (!second.has(cls)) rows.push({ cls, count: -b.count / PER, bytes: -b.bytes / PER });
}
rows.sort((a, b) => b.bytes - a.bytes);
const total = rows.reduce((sum, r) => sum + r.bytes, 0);
const fmt = (n: number): string => (Number.isInteger(n) ? String(n) : n.toFixed(2));
console.log(`${files.length === 2 ? 'growth' : 'total'}${PER > 1 ? ` per ${PER}` : ''}: ${fmt(total)} bytes`);
console.log('bytes\tcount\tclass');
for (const r of rows.slice(0, TOP)) console.log(`${fmt(r.bytes)}\t${fmt(r.count)}\t${r.cls}`);
