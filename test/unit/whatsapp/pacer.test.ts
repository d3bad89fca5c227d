import { describe, expect, it } from 'vitest';
import { SendPacer } from '../../../src/whatsapp/pacer.js';

describe('SendPacer, per recipient (Meta: one per interval on average, bursts of up to 45)', () => {
  it("lets a conversation's replies go at once, up to the burst, then one per interval", () => {
    const p = new SendPacer(1000, 6000, 3);
    for (let i = 0; i < 3; i++) {
      expect(p.readyAt('316', 100 * i)).toBe(100 * i);
      p.take();
      p.sent('316', 100 * i);
    }
    // the burst is spent: the fourth waits for one interval's worth of refill, counted from the first answer
    expect(p.readyAt('316', 300)).toBe(6000);
    expect(p.readyAt('317', 300)).toBe(300);
    p.take();
    p.sent('316', 6000);
    expect(p.readyAt('316', 6000)).toBe(12_000);
  });

  it('defaults to a burst of 45', () => {
    const p = new SendPacer(1000, 6000);
    for (let i = 0; i < 45; i++) p.sent('316', 0);
    expect(p.readyAt('316', 0)).toBe(6000);
  });

  it('counts a send remembered from before a restart as spending the whole burst (never over the limit)', () => {
    const p = new SendPacer(1000, 6000, 45);
    p.seen('316', 1000);
    expect(p.readyAt('316', 1000)).toBe(7000);
  });
});

describe("SendPacer, for the number (Meta: at most `mps` messages in any second, 130429 past it)", () => {
  it('lets `mps` messages go at once, then the next only a second after the first was answered', () => {
    const p = new SendPacer(3, 0);
    for (let i = 0; i < 3; i++) {
      expect(p.readyAt(`31${i}`, 0)).toBe(0);
      p.take();
    }
    for (let i = 0; i < 3; i++) p.sent(`31${i}`, 10 + i);
    // a token bucket would have refilled one and a half by now: four in one second, and Graph refuses the fourth
    expect(p.readyAt('319', 500)).toBe(1010);
    p.take();
    expect(p.readyAt('319', 1010)).toBe(1011);
  });

  it('holds a message while the number has `mps` on the wire (their arrival is not known yet)', () => {
    const p = new SendPacer(2, 0);
    p.take();
    p.take();
    expect(p.readyAt('310', 5000)).toBe(Infinity);
    p.sent('310', 5000);
    // the answered one counts for a second after its answer
    expect(p.readyAt('311', 5000)).toBe(6000);
    p.sent('311', 5500);
    expect(p.readyAt('312', 5600)).toBe(6000);
  });

  it('never has more than `mps` answers in any second when every message goes as soon as it may', () => {
    const mps = 7;
    const p = new SendPacer(mps, 0);
    const answers: number[] = [];
    const onWire: number[] = [];
    for (let now = 0; now < 10_000; now++) {
      // requests take 0-40 ms
      while (onWire.length > 0 && onWire[0]! <= now) {
        onWire.shift();
        p.sent('31', now);
        answers.push(now);
      }
      while (p.readyAt('31', now) <= now) {
        p.take();
        onWire.push(now + ((now * 7919) % 41));
        onWire.sort((a, b) => a - b);
      }
    }
    expect(answers.length).toBeGreaterThan(60);
    for (let i = mps; i < answers.length; i++) expect(answers[i]! - answers[i - mps]!).toBeGreaterThanOrEqual(1000);
  });
});
