// Failed logins: who gets blocked (a bin under attack from many addresses, not a device behind a busy NAT),
// and what a refusal tells (the same answer, in the same time, whether the bin exists or not).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cityBins, connectClient, metricValue, startBridge, type InProcessBridge } from '../helpers/bridge.js';
import { provisionLegacy } from '../helpers/legacy-secret.js';
import { rawConnect } from '../helpers/raw-mqtt.js';

const [NAT, ATTACKED, TIMED, CACHED, FRESH, LEGACY] = cityBins(6) as [string, string, string, string, string, string];

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

describe('failed logins', () => {
  let bridge: InProcessBridge;
  const secrets: Record<string, string> = {};
  const refused = async (reason: string): Promise<number> => metricValue(await (await fetch(`${bridge.httpUrl}/metrics`)).text(), 'binbridge_mqtt_refused_total', { reason });
  /** one login over a raw socket from a chosen loopback address; its CONNACK return code */
  const attempt = async (bin: string, password: string | undefined, from = '127.0.0.1'): Promise<number> => {
    const c = await rawConnect(bridge.ports.mqtt!, { clientId: bin, username: password === undefined ? undefined : bin, password }, { localAddress: from });
    c.end();
    return c.connack.returnCode ?? -1;
  };

  beforeAll(async () => {
    // auth_failures_per_min 10 (per address and bin), auth_block_addresses 5 (per bin), as configured by default
    bridge = await startBridge();
    for (const id of [NAT, ATTACKED, TIMED, CACHED, FRESH]) secrets[id] = await bridge.secrets.issue(id);
    // a secret of the release before, whose device has not logged in since: while one is left, every refusal pays
    // for a scrypt, a difference in work large enough to see over the network (with HMAC records only, a refusal
    // costs microseconds whatever the bin: the unit test counts that work)
    await provisionLegacy(bridge.db, LEGACY);
  });
  afterAll(async () => {
    await bridge?.stop();
  });

  it('answers no credentials with CONNACK 5, and a wrong secret or an unknown bin alike with CONNACK 4', async () => {
    expect(await attempt(TIMED, undefined)).toBe(5);
    expect(await attempt(TIMED, 'wrong-secret')).toBe(4);
    expect(await attempt('NOPE-0001', 'wrong-secret')).toBe(4);
  });

  it('lets the correct secret in from an address that another client behind it has got blocked', async () => {
    const codes: number[] = [];
    for (let i = 0; i < 12; i++) codes.push(await attempt(NAT, `neighbour-${i}`));
    expect(codes.slice(0, 10)).toEqual(Array(10).fill(4));
    expect(codes.slice(10)).toEqual([5, 5]); // the guesser is told it is blocked
    // the device behind the same address, its secret never seen since start-up
    const device = await connectClient(bridge.mqttUrl, { clientId: NAT, username: NAT, password: secrets[NAT] });
    device.end(true);
    expect(await refused('auth_blocked')).toBe(2);
  });

  it('blocks a bin whose logins fail from many addresses, except for a device that logged in before', async () => {
    (await connectClient(bridge.mqttUrl, { clientId: CACHED, username: CACHED, password: secrets[CACHED] })).end(true);
    for (let a = 2; a <= 6; a++) {
      expect(await attempt(ATTACKED, `guess-${a}`, `127.0.0.${a}`)).toBe(4);
      expect(await attempt(CACHED, `guess-${a}`, `127.0.0.${a}`)).toBe(4);
    }
    // ATTACKED's own device, not seen since start-up, must wait out the block
    expect(await attempt(ATTACKED, secrets[ATTACKED], '127.0.0.9')).toBe(5);
    expect(await attempt(ATTACKED, 'guess-7', '127.0.0.7')).toBe(5);
    // CACHED's device proved its secret before the attack: it still gets in
    expect(await attempt(CACHED, secrets[CACHED], '127.0.0.9')).toBe(0);
    expect(await attempt(CACHED, 'guess-7', '127.0.0.7')).toBe(5);
  });

  it('takes as long to refuse an unknown bin as a wrong secret for a provisioned one', async () => {
    // TIMED's device has logged in, so its secret is remembered: a wrong one must still cost the same; FRESH's has not
    (await connectClient(bridge.mqttUrl, { clientId: TIMED, username: TIMED, password: secrets[TIMED] })).end(true);
    const ms: Record<'unknown' | 'provisioned' | 'remembered', number[]> = { unknown: [], provisioned: [], remembered: [] };
    const time = async (bin: string, password: string, into: number[], from: string): Promise<void> => {
      const t0 = performance.now();
      expect(await attempt(bin, password, from)).toBe(4);
      into.push(performance.now() - t0);
    };
    // interleaved, so that a busy moment of the machine falls on all three; each address stays under its limit
    for (let i = 0; i < 7; i++) {
      await time(`NOPE-${i % 2}`, `wrong-${i}`, ms.unknown, '127.0.1.1');
      await time(FRESH, `wrong-${i}`, ms.provisioned, '127.0.1.2');
      await time(TIMED, `wrong-${i}`, ms.remembered, '127.0.1.3');
    }
    const m = { unknown: median(ms.unknown), provisioned: median(ms.provisioned), remembered: median(ms.remembered) };
    console.log(`wrong secret, median of 7: unknown bin ${m.unknown.toFixed(1)} ms, provisioned bin ${m.provisioned.toFixed(1)} ms, provisioned and logged in before ${m.remembered.toFixed(1)} ms`);
    // once: 3-5 ms for the unknown bin and the remembered one, 53 ms for the other; the same work is done for each
    // now (one HMAC, and one scrypt while scrypt records are left: asserted exactly in
    // test/unit/broker/device-secrets.test.ts), so only noise separates them
    for (const other of [m.provisioned, m.remembered]) {
      expect(m.unknown / other).toBeGreaterThan(0.4);
      expect(m.unknown / other).toBeLessThan(2.5);
    }
  });
});
