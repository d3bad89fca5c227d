// docs/configuration.md has a row for every setting of the schema, so a new key cannot go undocumented. A row names
// keys as `a.b.c`, its siblings as `.d` (`influx.org`, `.bucket`), or a whole section as `rules.*`.
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { envVariables } from '../../../src/config/index.js';

function documentedKeys(md: string): { keys: Set<string>; sections: Set<string> } {
  const keys = new Set<string>();
  const sections = new Set<string>();
  for (const [, first] of md.matchAll(/^\| ([^|]*`[^|]*) \|/gm)) {
    let parent = '';
    for (const [, name] of first!.matchAll(/`([^`]+)`/g)) {
      if (name!.endsWith('.*')) sections.add(name!.slice(0, -2));
      else if (name!.startsWith('.')) keys.add(parent + name);
      else {
        keys.add(name!);
        parent = name!.includes('.') ? name!.slice(0, name!.lastIndexOf('.')) : '';
      }
    }
  }
  return { keys, sections };
}

describe('docs/configuration.md', () => {
  it('has a row for every setting', () => {
    const { keys, sections } = documentedKeys(fs.readFileSync('docs/configuration.md', 'utf8'));
    const settings = [...envVariables().values()].map((v) => v.path.join('.'));
    expect(settings.length).toBeGreaterThan(50);
    expect(settings.filter((k) => !keys.has(k) && !sections.has(k.slice(0, k.lastIndexOf('.'))))).toEqual([]);
  });
});
