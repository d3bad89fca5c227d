import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { Lifecycle, type Room, type StopCause } from '../../src/lifecycle.js';

const silent = pino({ level: 'silent' });

/** A room that writes what happens to it into `trail`; `failStart`/`failStop` make that step throw. */
function room(name: string, trail: string[], opts: { failStart?: boolean; failStop?: boolean; slowStop?: boolean } = {}): Room {
  return {
    name,
    async start() {
      trail.push(`start ${name}`);
      if (opts.failStart) throw new Error(`${name} cannot start`);
    },
    async stop(cause: StopCause) {
      if (opts.slowStop) await new Promise<void>((resolve) => setImmediate(resolve));
      trail.push(`stop ${name} (${cause})`);
      if (opts.failStop) throw new Error(`${name} cannot stop`);
    },
  };
}

describe('Lifecycle', () => {
  it('starts rooms in order and stops them in exact reverse, once', async () => {
    const trail: string[] = [];
    const life = new Lifecycle(silent);
    for (const name of ['store', 'workers', 'edges']) life.add(room(name, trail, { slowStop: true }));
    await life.start();
    await Promise.all([life.stop(), life.stop()]);
    expect(life.names).toEqual(['store', 'workers', 'edges']);
    expect(trail).toEqual(['start store', 'start workers', 'start edges', 'stop edges (shutdown)', 'stop workers (shutdown)', 'stop store (shutdown)']);
  });

  it('after a failed start stops every room it holds, the failed one and those not started included, and rethrows', async () => {
    const trail: string[] = [];
    const life = new Lifecycle(silent);
    life.add(room('store', trail));
    life.add(room('broker', trail, { failStart: true }));
    life.add(room('http', trail));
    await expect(life.start()).rejects.toThrow('broker cannot start');
    expect(trail).toEqual(['start store', 'start broker', 'stop http (failed start)', 'stop broker (failed start)', 'stop store (failed start)']);
  });

  it('a room that fails to stop does not keep the rooms before it running', async () => {
    const trail: string[] = [];
    const warnings: unknown[] = [];
    const log = pino({ level: 'warn' }, { write: (line: string) => warnings.push(JSON.parse(line)) });
    const life = new Lifecycle(log);
    life.add(room('store', trail));
    life.add(room('edges', trail, { failStop: true }));
    await life.start();
    await life.stop();
    expect(trail).toEqual(['start store', 'start edges', 'stop edges (shutdown)', 'stop store (shutdown)']);
    expect(warnings).toMatchObject([{ room: 'edges', cause: 'shutdown', msg: 'room failed to stop' }]);
  });
});
