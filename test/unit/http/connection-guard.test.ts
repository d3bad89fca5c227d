import { describe, expect, it } from 'vitest';
import { addressKey, openFilesLimit } from '../../../src/http/connection-guard.js';

describe('addressKey', () => {
  it.each([
    ['192.0.2.7', '192.0.2.7'],
    ['::ffff:192.0.2.7', '192.0.2.7'],
    ['2001:db8:1:2:aaaa:bbbb:cccc:dddd', '2001:db8:1:2::/64'],
    ['2001:db8:1:2::1', '2001:db8:1:2::/64'],
    ['2001:0DB8:0001:0002::9', '2001:db8:1:2::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
    [undefined, '?'],
  ])('%s counts as %s', (remote, key) => expect(addressKey(remote)).toBe(key));
});

describe('openFilesLimit', () => {
  it('reads the soft limit', () => {
    expect(openFilesLimit(() => 'Max cpu time              unlimited            unlimited            seconds\nMax open files            1024                 20000                files\n')).toBe(1024);
  });
  it('is null when unlimited or unreadable', () => {
    expect(openFilesLimit(() => 'Max open files            unlimited            unlimited            files\n')).toBeNull();
    expect(
      openFilesLimit(() => {
        throw new Error('ENOENT');
      }),
    ).toBeNull();
  });
});
