// Every relative link in README.md and docs/ leads somewhere: the file exists and, with a #fragment, the page
// has a heading of that anchor (GitHub's slugs), so moving a section cannot strand a link.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const pages = (): string[] => [
  'README.md',
  ...fs.readdirSync('docs', { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.md')).map((f) => path.join('docs', f)),
];

// Fenced blocks and code spans are text, not links: `[x](y)` in a code sample is not checked.
const prose = (md: string): string => md.replace(/^```[\s\S]*?^```/gm, '').replace(/`[^`\n]*`/g, '');

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
function anchors(md: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const [, text] of md.replace(/^```[\s\S]*?^```/gm, '').matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const plain = text!.replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1');
    const slug = plain.toLowerCase().replace(/[^\p{L}\p{M}\p{N}\s_-]/gu, '').replace(/ /g, '-');
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    out.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return out;
}

/** The broken relative links of one page, as `target: why`. `read` gives another page's text. */
function brokenLinks(file: string, md: string, read: (file: string) => string | undefined): string[] {
  const broken: string[] = [];
  for (const [, target] of prose(md).matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target!)) continue; // https:, mailto: — not ours to check
    const [rel, fragment] = target!.split('#', 2) as [string, string | undefined];
    const dest = rel === '' ? file : path.normalize(path.join(path.dirname(file), decodeURIComponent(rel)));
    const text = dest === file ? md : read(dest);
    if (text === undefined) {
      broken.push(`${target}: no file ${dest}`);
    } else if (fragment !== undefined && !anchors(text).has(fragment)) {
      broken.push(`${target}: no heading #${fragment} in ${dest}`);
    }
  }
  return broken;
}

const readFile = (f: string): string | undefined => (fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : undefined);

describe('links in README.md and docs/', () => {
  it('finds a missing file and a missing heading', () => {
    const md = '# Top\n\n## The live page (`/`)\n\nSee [a](#the-live-page-), [b](nope.md), [c](#nowhere), [d](docs/x.md#y), `[e](code.md)`, [f](https://example.org/x).\n';
    const others: Record<string, string> = { 'docs/x.md': '# X\n' };
    expect(brokenLinks('README.md', md, (f) => others[f])).toEqual([
      'nope.md: no file nope.md',
      '#nowhere: no heading #nowhere in README.md',
      'docs/x.md#y: no heading #y in docs/x.md',
    ]);
  });

  it('numbers repeated headings as GitHub does', () => {
    expect([...anchors('## Options\n\n## Options\n\n### `mqtt.host` & co.\n')]).toEqual(['options', 'options-1', 'mqtthost--co']);
  });

  it.each(pages())('%s: every relative link and image resolves', (file) => {
    expect(brokenLinks(file, fs.readFileSync(file, 'utf8'), readFile)).toEqual([]);
  });
});
