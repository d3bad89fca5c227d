// What every UnitOfWork must do, whichever database it runs on (SQLite's one connection behind a mutex, or
// PostgreSQL's pool): each implementation runs these cases on a fresh, migrated database of its own. The stores bound
// to a transaction here are one small one, Tally, on the `meta` table both schemas have.
import { describe, expect, it } from 'vitest';
import { NestedTransactionError, type UnitOfWork } from '../../src/storage/index.js';
import { waitFor } from './wait.js';

/** A number per key, in `meta`: enough to see commits, rollbacks and lost updates. */
export interface Tally {
  get(key: string): Promise<number | null>;
  /** reads a key meaning to write it: the row stays locked for this transaction (PostgreSQL's FOR UPDATE) */
  getForUpdate(key: string): Promise<number | null>;
  set(key: string, n: number): Promise<void>;
  /** a statement the database refuses (a NOT NULL column given null) */
  fail(): Promise<void>;
}

export interface UnitOfWorkFixture {
  uow: UnitOfWork<Tally>;
  /** whether a transaction is waiting for another (for the mutex, or for a row lock) */
  blocked(): Promise<boolean> | boolean;
}

/** A promise and the function that resolves it. */
function gate(): { open: () => void; opened: Promise<void> } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { open, opened };
}

export function unitOfWorkContract(name: string, fresh: () => Promise<UnitOfWorkFixture>): void {
  describe(`${name} (UnitOfWork contract)`, () => {
    it('commits what the work wrote and resolves what it returned', async () => {
      const { uow } = await fresh();
      expect(await uow.tx(async (t) => {
        await t.set('a', 1);
        await t.set('b', 2);
        return 'done';
      })).toBe('done');
      expect(await uow.tx(async (t) => [await t.get('a'), await t.get('b')])).toEqual([1, 2]);
    });

    it('rolls everything back when the work throws, and rejects with its error', async () => {
      const { uow } = await fresh();
      await uow.tx((t) => t.set('a', 1));
      const boom = new Error('boom');
      await expect(uow.tx(async (t) => {
        await t.set('a', 2);
        await t.set('b', 2);
        throw boom;
      })).rejects.toBe(boom);
      expect(await uow.tx(async (t) => [await t.get('a'), await t.get('b')])).toEqual([1, null]);
    });

    it('serialises two read-modify-writes of one row: the second waits and sees the first one\'s commit', async () => {
      const { uow, blocked } = await fresh();
      await uow.tx((t) => t.set('n', 0));
      const held = gate();
      const read = gate();
      const seen: number[] = [];
      const first = uow.tx(async (t) => {
        const n = (await t.getForUpdate('n'))!;
        seen.push(n);
        read.open();
        await held.opened;
        await t.set('n', n + 1);
      });
      await read.opened;
      const second = uow.tx(async (t) => {
        const n = (await t.getForUpdate('n'))!;
        seen.push(n);
        await t.set('n', n + 1);
      });
      await waitFor(() => blocked(), { message: 'the second transaction waits for the first' });
      expect(seen).toEqual([0]);
      held.open();
      await Promise.all([first, second]);
      expect(seen).toEqual([0, 1]);
      expect(await uow.tx((t) => t.get('n'))).toBe(2);
    });

    it('never lets another transaction see a write before its commit, nor at all after a rollback', async () => {
      const { uow } = await fresh();
      const written = gate();
      const held = gate();
      const first = uow.tx(async (t) => {
        await t.set('x', 5);
        written.open();
        await held.opened;
        throw new Error('changed my mind');
      });
      await written.opened;
      // on PostgreSQL this reads beside the open transaction, on SQLite after it: never 5 either way
      const reader = uow.tx((t) => t.get('x'));
      held.open();
      await expect(first).rejects.toThrow('changed my mind');
      expect(await reader).toBeNull();
      expect(await uow.tx((t) => t.get('x'))).toBeNull();
    });

    it('works after a transaction that failed on a refused statement', async () => {
      const { uow } = await fresh();
      await expect(uow.tx(async (t) => {
        await t.set('a', 1);
        await t.fail();
      })).rejects.toThrow(/NOT NULL|null value/i);
      await uow.tx((t) => t.set('b', 7));
      expect(await uow.tx(async (t) => [await t.get('a'), await t.get('b')])).toEqual([null, 7]);
    });

    it('refuses a transaction inside another at once instead of waiting for ever', async () => {
      const { uow } = await fresh();
      await expect(uow.tx(async (t) => {
        await t.set('a', 1);
        await uow.tx((inner) => inner.set('b', 1));
      })).rejects.toBeInstanceOf(NestedTransactionError);
      expect(await uow.tx(async (t) => [await t.get('a'), await t.get('b')])).toEqual([null, null]);
      // work carried on from a transaction that has ended is not inside it
      let later: Promise<void> | undefined;
      await uow.tx(async () => {
        later = Promise.resolve().then(async () => {
          await new Promise<void>((resolve) => setImmediate(resolve));
          await uow.tx((t) => t.set('c', 3));
        });
      });
      await later;
      expect(await uow.tx((t) => t.get('c'))).toBe(3);
    });
  });
}
