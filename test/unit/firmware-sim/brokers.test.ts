import { describe, expect, it } from 'vitest';
import { brokersOf, mqttServers } from '../../../firmware-sim/brokers.js';

describe('mqttServers', () => {
  it.each([
    ['mqtt://127.0.0.1:1883', { host: '127.0.0.1', port: 1883, protocol: 'mqtt' }],
    ['mqtt://broker', { host: 'broker', port: 1883, protocol: 'mqtt' }],
    ['mqtts://broker', { host: 'broker', port: 8883, protocol: 'mqtts' }],
    ['tls://broker:9000', { host: 'broker', port: 9000, protocol: 'mqtts' }],
    ['ws://lb:3000/mqtt', { host: 'lb', port: 3000, protocol: 'ws' }],
    ['wss://lb/mqtt', { host: 'lb', port: 443, protocol: 'wss' }],
    ['mqtt://[::1]:1884', { host: '::1', port: 1884, protocol: 'mqtt' }],
  ])('%s -> %j', (url, server) => {
    expect(mqttServers([url])).toEqual([server]);
  });
});

describe('brokersOf', () => {
  const urls = ['mqtt://a', 'mqtt://b', 'mqtt://c'];
  it('starts each device at another broker, then tries the rest in order', () => {
    expect([0, 1, 2, 3].map((i) => brokersOf(i, urls))).toEqual([
      ['mqtt://a', 'mqtt://b', 'mqtt://c'],
      ['mqtt://b', 'mqtt://c', 'mqtt://a'],
      ['mqtt://c', 'mqtt://a', 'mqtt://b'],
      ['mqtt://a', 'mqtt://b', 'mqtt://c'],
    ]);
    expect(brokersOf(7, ['mqtt://only'])).toEqual(['mqtt://only']);
  });
});
