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

/** Counts the transactions on `db` that commit from now on (outermost ones: nested ones are savepoints). */
export function commitCounter(db: Db): { readonly commits: number } {
  let commits = 0;
  const transaction = db.transaction.bind(db);
  db.transaction = ((fn: (...a: unknown[]) => unknown) => {
    const tx = transaction(fn);
    return Object.assign((...a: unknown[]) => {
      if (!db.inTransaction) commits++;
      return tx(...a);
    }, tx);
  }) as typeof db.transaction;
  return {
    get commits() {
      return commits;
    },
  };
}
