import { describe, expect, it } from 'vitest';
import { SendPacer } from '../../../src/whatsapp/pacer.js';

describe('SendPacer', () => {
  it('spaces messages to one recipient without holding back others', () => {
    const p = new SendPacer(80, 6000);
    expect(p.readyAt('a', 1000)).toBe(1000);
    p.take('a', 1000);
    expect(p.readyAt('a', 1000)).toBe(7000);
    expect(p.readyAt('b', 1000)).toBe(1000);
    expect(p.readyAt('a', 7000)).toBe(7000);
  });

  it('holds the whole number to mps messages per second', () => {
    const p = new SendPacer(10, 0);
    for (let i = 0; i < 10; i++) {
      expect(p.readyAt(`r${i}`, 0)).toBe(0);
      p.take(`r${i}`, 0);
    }
    expect(p.readyAt('r10', 0)).toBe(100);
    expect(p.readyAt('r10', 100)).toBe(100);
  });
});
