// Device secret verification rate: how many logins a second the secret check allows, on this machine.
//   npm run bench:secrets [-- --hmac 20000 --scrypt 64]
// On an in-memory SQLite database: verifies `--hmac` secrets of HMAC records (each bin once, in a fresh
// DeviceSecrets so that nothing is answered from memory), refuses as many wrong ones, then verifies `--scrypt`
// records of the release before (which upgrades each), all started at once as a reconnect storm would. Prints ONE
// JSON object on stdout: per kind the count, seconds and verifications per second.
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { SqliteDeviceSecrets } from '../src/broker/index.js';
import { migrate } from '../src/storage/index.js';
import { provisionLegacy } from '../test/helpers/legacy-secret.js';
import { commandLine } from './lib/command-line.js';
import { log, r1, r3 } from './lib/harness.js';

const cli = commandLine('bench/secrets', 'usage: npm run bench:secrets -- [--hmac 20000] [--scrypt 64]', {
  hmac: { type: 'string', default: '20000' },
  scrypt: { type: 'string', default: '64' },
});
const nHmac = cli.int('hmac', cli.values.hmac, 1, 1_000_000);
const nScrypt = cli.int('scrypt', cli.values.scrypt, 0, 10_000);

const db = new Database(':memory:');
migrate(db);
const key = randomBytes(32);
const bin = (i: number): string => `B-${String(i).padStart(6, '0')}`;

const rate = async (what: string, n: number, run: (i: number) => Promise<boolean>, expect: boolean) => {
  log(`${what}: ${n}`);
  const t0 = performance.now();
  const results = await Promise.all(Array.from({ length: n }, (_, i) => run(i)));
  const s = (performance.now() - t0) / 1000;
  if (results.some((ok) => ok !== expect)) throw new Error(`${what}: a result was not ${expect}`);
  return { count: n, seconds: r3(s), per_s: Math.round(n / s), us_each: r1((s * 1e6) / n) };
};

const issuer = new SqliteDeviceSecrets(db, key);
const secrets: string[] = [];
for (let i = 0; i < nHmac; i++) secrets.push(await issuer.issue(bin(i)));
const legacy: string[] = [];
for (let i = 0; i < nScrypt; i++) legacy.push(await provisionLegacy(db, bin(nHmac + i)));

const verifier = new SqliteDeviceSecrets(db, key);
// a fresh instance for each kind: nothing remembered from issuing or from the kind before
const hmacOk = await rate('hmac records, correct secret', nHmac, (i) => verifier.verify(bin(i), secrets[i]!), true);
const scryptOk = nScrypt > 0 ? await rate('scrypt records, correct secret (each upgraded)', nScrypt, (i) => new SqliteDeviceSecrets(db, key).verify(bin(nHmac + i), legacy[i]!), true) : null;
const upgraded = new SqliteDeviceSecrets(db, key).counts();
if (upgraded.scrypt !== 0) throw new Error(`${upgraded.scrypt} scrypt records left after their logins`);
// no scrypt record left, so a refusal costs one HMAC too
const refusals = new SqliteDeviceSecrets(db, key);
const hmacWrong = await rate('hmac records, wrong secret', nHmac, (i) => refusals.verify(bin(i), `wrong-${i}`), false);
const unknown = await rate('unknown bins', nHmac, (i) => refusals.verify(`NOPE-${i}`, `wrong-${i}`), false);
console.log(JSON.stringify({ hmac_correct: hmacOk, scrypt_correct_and_upgraded: scryptOk, hmac_wrong: hmacWrong, unknown_bin: unknown, libuv_threadpool: Number(process.env.UV_THREADPOOL_SIZE ?? 4) }));
