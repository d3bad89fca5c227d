import { describe, expect, it } from 'vitest';
import { Sealer } from '../../../src/whatsapp/index.js';

describe('Sealer', () => {
  const s = new Sealer('a-deployment-secret-of-some-length');
  it('gives a stable keyed pseudonym that does not contain the number', () => {
    expect(s.pseudonym('31612345678')).toBe(s.pseudonym('31612345678'));
    expect(s.pseudonym('31612345678')).not.toBe(s.pseudonym('31612345679'));
    expect(s.pseudonym('31612345678')).not.toBe(new Sealer('another-deployment-secret-000').pseudonym('31612345678'));
    expect(s.pseudonym('31612345678')).toMatch(/^p_[0-9a-f]{24}$/);
  });
  it('seals and opens; the sealed bytes hold no clear text; tampering is detected', () => {
    const sealed = s.seal('31612345678');
    expect(sealed.includes(Buffer.from('31612345678'))).toBe(false);
    expect(s.openText(sealed)).toBe('31612345678');
    expect(s.seal('x').equals(s.seal('x'))).toBe(false);
    sealed[sealed.length - 1]! ^= 1;
    expect(() => s.open(sealed)).toThrow();
  });
  it('refuses a short secret', () => expect(() => new Sealer('short')).toThrow());
});
