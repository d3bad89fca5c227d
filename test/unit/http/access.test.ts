import { describe, expect, it } from 'vitest';
import { isLoopback } from '../../../src/http/auth.js';
import { pageAddress } from '../../../src/http/api-token.js';

describe('isLoopback', () => {
  it.each([
    ['127.0.0.1', true],
    ['127.1.2.3', true],
    ['::1', true],
    ['::ffff:127.0.0.1', true],
    ['::FFFF:127.0.0.1', true],
    ['192.0.2.2', false],
    ['::ffff:192.0.2.2', false],
    ['10.0.0.1', false],
    ['fd00::2', false],
    ['::', false],
    ['128.0.0.1', false],
    ['127.0.0.1.evil', false],
    ['', false],
    [undefined, false],
  ])('%s → %s', (address, expected) => {
    expect(isLoopback(address)).toBe(expected);
  });
});

describe('pageAddress', () => {
  it.each([
    ['0.0.0.0', 3000, 'tok', 'http://localhost:3000/#token=tok'],
    ['::', 3000, 'a+b/c', 'http://localhost:3000/#token=a%2Bb%2Fc'],
    ['127.0.0.1', 8080, null, 'http://127.0.0.1:8080/'],
    ['fd00::2', 3000, 'tok', 'http://[fd00::2]:3000/#token=tok'],
    ['bins.city.example', 3000, 'tok', 'http://bins.city.example:3000/#token=tok'],
  ])('%s:%s', (host, port, token, expected) => {
    expect(pageAddress(host, port, token)).toBe(expected);
  });
});
