import { parseArgs } from 'node:util';
import { describe, expect, it } from 'vitest';
import { OptionsError, parseDuration, parseSimOptions, readSimOptions, simArgOptions } from '../../../firmware-sim/options.js';

const parse = (...args: string[]) => parseSimOptions(parseArgs({ args, options: simArgOptions, strict: true }).values);

describe('parseDuration', () => {
  it.each([
    ['500ms', 500],
    ['10s', 10_000],
    ['2m', 120_000],
    ['1h', 3_600_000],
    ['1d', 86_400_000],
    ['1.5s', 1500],
    ['1h30m', 5_400_000],
    [' 10s ', 10_000],
  ])('%s -> %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', '10', 'ten seconds', '10x', '-5s', '1h 30m', 's'])('rejects %j with a clear message', (text) => {
    expect(() => parseDuration(text)).toThrow(/expected a duration like 500ms, 10s, 2m/);
  });
});

describe('parseSimOptions', () => {
  it('gives the documented defaults', () => {
    expect(parse()).toEqual({
      bins: undefined,
      binsFile: 'config/bins.example.csv',
      urls: ['mqtt://127.0.0.1:1883'],
      credentials: 'data/device-secrets.json',
      noAuth: false,
      intervalMs: 10_000,
      speed: 60,
      durationMs: undefined,
      qos: 1,
      seed: 1,
      faultRates: { stuck: 0.01, tilt: 0.005, fire: 0.0005, silent: 0.01 },
      connectRate: 50,
      startTimeMs: undefined,
      stamps: 'simulated',
      quiet: false,
      provision: false,
      help: false,
    });
  });

  it('--provision asks for secrets before connecting (what `npm run sim` passes)', () => {
    expect(parse('--provision').provision).toBe(true);
  });

  it('--stamps real: readings carry the real time; anything else is refused', () => {
    expect(parse('--stamps', 'real').stamps).toBe('real');
    expect(() => parse('--stamps', 'now')).toThrow('--stamps: expected simulated or real, got "now"');
  });

  it('reads every option', () => {
    const o = parse(
      '--bins', '20', '--bins-file', 'city.geojson', '--url', 'ws://localhost:3000/mqtt', '--credentials', 's.json', '--no-auth',
      '--interval', '2m', '--speed', '600', '--duration', '30s', '--qos', '0', '--seed', '42',
      '--fault-stuck', '0.5', '--fault-tilt', '0', '--fault-fire', '0.1', '--fault-silent', '2',
      '--connect-rate', '200', '--start-time', '2026-11-25T06:00:00Z', '--quiet',
    );
    expect(o).toMatchObject({
      bins: 20, binsFile: 'city.geojson', urls: ['ws://localhost:3000/mqtt'], credentials: 's.json', noAuth: true,
      intervalMs: 120_000, speed: 600, durationMs: 30_000, qos: 0, seed: 42,
      faultRates: { stuck: 0.5, tilt: 0, fire: 0.1, silent: 2 }, connectRate: 200,
      startTimeMs: Date.parse('2026-11-25T06:00:00Z'), quiet: true,
    });
  });

  it.each([
    [['--bins', '0'], /--bins: expected a whole number of bins greater than 0, got "0"/],
    [['--bins', '2.5'], /--bins: expected a whole number/],
    [['--interval', '10'], /--interval: expected a duration like 500ms/],
    [['--interval', '0s'], /--interval: must be longer than 0/],
    [['--duration', 'soon'], /--duration: expected a duration/],
    [['--speed=-1'], /--speed: expected a speed greater than 0/],
    [['--speed', 'fast'], /--speed: expected a speed greater than 0/],
    [['--qos', '2'], /--qos: expected 0 or 1, got "2"/],
    [['--url', 'http://x'], /--url: expected a broker URL/],
    [['--url', 'not a url'], /--url: expected a broker URL/],
    [['--fault-fire=-0.1'], /--fault-fire: expected a rate per simulated day of 0 or more/],
    [['--connect-rate', '0'], /--connect-rate: expected connections per second greater than 0/],
    [['--start-time', 'tomorrow'], /--start-time: expected an ISO date-time/],
    [['--seed', 'x'], /--seed: expected a whole number/],
  ])('%j gives a clear error', (args, message) => {
    expect(() => parse(...args)).toThrow(OptionsError);
    expect(() => parse(...args)).toThrow(message);
  });

  it('--url may name several brokers, comma-separated or repeated, in the order given', () => {
    expect(parse('--url', 'mqtt://a:1883,mqtt://b:1884').urls).toEqual(['mqtt://a:1883', 'mqtt://b:1884']);
    expect(parse('--url', 'mqtt://a:1883', '--url', ' mqtt://b:1884 , mqtts://c').urls).toEqual(['mqtt://a:1883', 'mqtt://b:1884', 'mqtts://c']);
    expect(parse('--url', 'ws://a:3000/mqtt,ws://b:3000/mqtt').urls).toEqual(['ws://a:3000/mqtt', 'ws://b:3000/mqtt']);
  });

  it.each([
    [['--url', 'mqtt://a:1883,http://b'], '--url: expected a broker URL such as mqtt://127.0.0.1:1883 or ws://host:3000/mqtt, got "http://b"'],
    [['--url', 'mqtt://a:1883,,'], '--url: expected a broker URL such as mqtt://127.0.0.1:1883 or ws://host:3000/mqtt, got ""'],
    [['--url', 'mqtt://a:1883', '--url', 'mqtt://a:1883'], '--url: mqtt://a:1883 is named twice'],
    [['--url', 'ws://a:3000/mqtt,ws://b:3000/other'], '--url: WebSocket brokers must share one path (MQTT.js uses the first URL\'s for all), got /mqtt and /other'],
  ])('%j: a clear error about the broker list', (args, message) => {
    expect(() => parse(...args)).toThrow(OptionsError);
    expect(() => parse(...args)).toThrow(message);
  });

  it('lists every bad option at once', () => {
    expect(() => parse('--qos', '3', '--speed', '0')).toThrow(/--speed: .*\n--qos: |--qos: .*\n--speed: /);
  });

  it('rejects unknown keys', () => {
    expect(() => parseSimOptions({ bogus: 'x' })).toThrow(/unknown option\(s\) --bogus/);
  });
});

describe('readSimOptions', () => {
  it.each([
    [['--bogus'], 'unknown option --bogus'],
    [['--speeed', '2'], 'unknown option --speeed; did you mean --speed?'],
    [['--bins'], '--bins: a value is missing'],
    [['--quiet=yes'], '--quiet: takes no value'],
    [['extra'], 'unexpected argument extra'],
  ])('%j is an error: %s', (args, message) => {
    expect(() => readSimOptions(args)).toThrow(OptionsError);
    expect(() => readSimOptions(args)).toThrow(message);
  });
});
