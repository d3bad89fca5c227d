import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { EventBus } from '../../src/events.js';

type Events = { 'job.changed': { id: string }; 'message.counted': { n: number } };

describe('EventBus', () => {
  it('delivers each event to its listeners in order, and not to the others', () => {
    const bus = new EventBus<Events>(pino({ level: 'silent' }));
    const seen: string[] = [];
    bus.on('job.changed', (j) => seen.push(`a:${j.id}`));
    bus.on('job.changed', (j) => seen.push(`b:${j.id}`));
    bus.on('message.counted', (m) => seen.push(`m:${m.n}`));
    bus.emit('job.changed', { id: 'J1' });
    expect(seen).toEqual(['a:J1', 'b:J1']);
  });

  it('isolates a failing listener: it is counted, the emitter and the other listeners go on', () => {
    const failures: string[] = [];
    const bus = new EventBus<Events>(pino({ level: 'silent' }), (type) => failures.push(type));
    const seen: string[] = [];
    bus.on('job.changed', () => {
      throw new Error('listener bug');
    });
    bus.on('job.changed', (j) => seen.push(j.id));
    expect(() => bus.emit('job.changed', { id: 'J2' })).not.toThrow();
    expect(seen).toEqual(['J2']);
    expect(failures).toEqual(['job.changed']);
  });

  it('unsubscribes, also from inside a listener', () => {
    const bus = new EventBus<Events>(pino({ level: 'silent' }));
    const seen: number[] = [];
    const off = bus.on('message.counted', (m) => {
      seen.push(m.n);
      off();
    });
    bus.emit('message.counted', { n: 1 });
    bus.emit('message.counted', { n: 2 });
    expect(seen).toEqual([1]);
  });
});
