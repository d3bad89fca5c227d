// The loop's connection and the journal worker's share one SQLite file (spool.journal: worker, the default). A
// transaction that reads before it writes must hold the write lock from its BEGIN: a deferred one fails at its first
// write with SQLITE_BUSY whenever the worker committed in between (busy_timeout cannot help a stale read snapshot),
// which showed as an uncaught "database is locked" from the outbox when the suite first ran with the worker. Every
// transaction in src/ therefore begins IMMEDIATE, and a lint rule keeps it so.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ESLint } from 'eslint';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase, type Db } from '../../src/storage/index.js';

describe('write transactions beside the journal worker’s connection', () => {
  const open: Db[] = [];
  const dirs: string[] = [];
  afterEach(() => {
    for (const db of open.splice(0)) db.close();
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  /** The loop's connection reads, the worker's commits, the loop's writes: what the loop's write meets. */
  function readCommitWrite(begin: 'deferred' | 'immediate'): { loop: string; worker: string } {
    const dir = mkdtempSync(path.join(tmpdir(), 'binbridge-lock-'));
    dirs.push(dir);
    const loop = openDatabase(dir, { sync: 'normal' });
    const worker = openDatabase(dir, { sync: 'normal' });
    open.push(loop, worker);
    loop.exec('CREATE TABLE probe (n INTEGER)');
    worker.pragma('busy_timeout = 0');
    const outcome = { loop: 'committed', worker: 'committed' };
    const code = (err: unknown): string => (err as { code?: string }).code ?? String(err);
    try {
      loop.transaction(() => {
        loop.prepare('SELECT count(*) FROM probe').get();
        try {
          worker.prepare('INSERT INTO probe (n) VALUES (1)').run();
        } catch (err) {
          outcome.worker = code(err);
        }
        loop.prepare('INSERT INTO probe (n) VALUES (2)').run();
      })[begin]();
    } catch (err) {
      outcome.loop = code(err);
    }
    return outcome;
  }

  it('a deferred transaction fails at its write when the other connection committed after its read; an immediate one does not', () => {
    expect(readCommitWrite('deferred')).toEqual({ loop: 'SQLITE_BUSY_SNAPSHOT', worker: 'committed' });
    // the other connection waits for it instead (here, with busy_timeout 0: refused and free to try again)
    expect(readCommitWrite('immediate')).toEqual({ loop: 'committed', worker: 'SQLITE_BUSY' });
  });

  it('the lint rule refuses a transaction begun deferred in src/ and takes one begun immediate', async () => {
    const eslint = new ESLint();
    const lint = async (code: string): Promise<string[]> => (await eslint.lintText(code, { filePath: 'src/storage/lint-probe.ts' }))[0]!.messages.map((m) => m.message);
    const source = (call: string): string => `import type { Db } from './database.js';\nexport function f(db: Db): number {\n  return db.transaction(() => 1)${call};\n}\n`;
    expect((await lint(source('()'))).join('\n')).toMatch(/\.immediate\(\)/);
    expect(await lint(source('.immediate()'))).toEqual([]);
  });
});
