import type { Db } from '../../src/storage/index.js';

/**
 * Counts the turns of the event loop from now on (a setImmediate chain), so a test can tell whether work was
 * spread over turns or done in one. `stop()` ends the chain.
 */
export function turnCounter(): { readonly turns: number; stop(): void } {
  let turns = 0;
  let counting = true;
  const tick = (): void => {
    turns++;
    if (counting) setImmediate(tick);
  };
  setImmediate(tick);
  return {
    get turns() {
      return turns;
    },
    stop: () => void (counting = false),
  };
}

/**
 * Runs `before` ahead of every outermost transaction begun on `db` from now on (nested ones are savepoints inside a
 * commit), whichever way it begins (`()` or `.immediate()`); `before` may throw to fail the commit.
 */
export function beforeEachCommit(db: Db, before: () => void): void {
  const transaction = db.transaction.bind(db);
  db.transaction = ((fn: (...a: unknown[]) => unknown) => {
    const tx = transaction(fn);
    const hooked =
      (begin: (...a: unknown[]) => unknown) =>
      (...a: unknown[]): unknown => {
        if (!db.inTransaction) before();
        return begin(...a);
      };
    return Object.assign(hooked(tx), { deferred: hooked(tx.deferred), immediate: hooked(tx.immediate), exclusive: hooked(tx.exclusive) });
  }) as typeof db.transaction;
}

/** Counts the transactions on `db` that commit from now on (outermost ones: nested ones are savepoints). */
export function commitCounter(db: Db): { readonly commits: number } {
  let commits = 0;
  beforeEachCommit(db, () => commits++);
  return {
    get commits() {
      return commits;
    },
  };
}
