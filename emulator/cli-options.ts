import type { GraphEmulatorOptions } from './graph-emulator.js';

export const CLI_HELP = `Usage: npm run emulator -- [options]

A local WhatsApp Cloud API (Graph API) for binbridge: point whatsapp.graph_url at it.

  --port N                 listen port (default 8055; 0 picks a free one)
  --host H                 listen address (default 127.0.0.1)
  --webhook URL            binbridge's webhook, e.g. http://127.0.0.1:3000/webhooks/whatsapp
  --app-secret S           signs the webhooks (X-Hub-Signature-256)
  --phone-number-id ID     the business number's id (default 106540352242922)
  --display-phone-number N (default 15550783881)
  --access-token T         the bearer token binbridge must send
  --pair-interval-ms N     one message per N ms to one recipient on average (default 6000; bursts of 45)
  --mps N                  messages per second for the number (default 80)
  --messaging-limit N      unique users reached outside their window per moving 24 h (default: unlimited)
  --status-delays A,B,C    sent,delivered,read offsets in ms (default 50,100,200; C "-" for no read)
  --unreachable N          a number whose messages fail with 131026 (repeatable)
  --open-window N          a number whose 24-hour window starts open (repeatable)
  --quiet                  no request log
  -h, --help
`;

export const cliArgOptions = {
  port: { type: 'string' },
  host: { type: 'string' },
  webhook: { type: 'string' },
  'app-secret': { type: 'string' },
  'phone-number-id': { type: 'string' },
  'display-phone-number': { type: 'string' },
  'access-token': { type: 'string' },
  'pair-interval-ms': { type: 'string' },
  mps: { type: 'string' },
  'messaging-limit': { type: 'string' },
  'status-delays': { type: 'string' },
  unreachable: { type: 'string', multiple: true },
  'open-window': { type: 'string', multiple: true },
  quiet: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export class CliOptionsError extends Error {}

export interface CliOptions {
  help: boolean;
  quiet: boolean;
  openWindows: string[];
  emulator: GraphEmulatorOptions;
}

function int(name: string, value: string | undefined, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new CliOptionsError(`--${name} must be an integer >= ${min}, got "${value}"`);
  return n;
}

/** From `util.parseArgs` values to emulator options; throws CliOptionsError with a readable message. */
export function parseCliOptions(values: Record<string, string | boolean | string[] | undefined>): CliOptions {
  const str = (k: string): string | undefined => (typeof values[k] === 'string' ? (values[k] as string) : undefined);
  const list = (k: string): string[] => (Array.isArray(values[k]) ? (values[k] as string[]) : []);
  const webhook = str('webhook');
  if (webhook !== undefined && !URL.canParse(webhook)) throw new CliOptionsError(`--webhook must be a URL, got "${webhook}"`);
  let statusDelaysMs: GraphEmulatorOptions['statusDelaysMs'];
  const delays = str('status-delays');
  if (delays !== undefined) {
    const [sent, delivered, read] = delays.split(',').map((s) => s.trim());
    statusDelaysMs = {
      sent: int('status-delays', sent, 50),
      delivered: int('status-delays', delivered, 100),
      read: read === '-' ? null : int('status-delays', read, 200),
    };
  }
  const emulator: GraphEmulatorOptions = {
    port: int('port', str('port'), 8055),
    host: str('host') ?? '127.0.0.1',
    pairIntervalMs: int('pair-interval-ms', str('pair-interval-ms'), 6000),
    mps: int('mps', str('mps'), 80, 1),
    unreachable: list('unreachable'),
    logger: values.quiet === true ? false : { level: 'info' },
    ...(webhook === undefined ? {} : { webhookUrl: webhook }),
    ...(str('app-secret') === undefined ? {} : { appSecret: str('app-secret') }),
    ...(str('phone-number-id') === undefined ? {} : { phoneNumberId: str('phone-number-id') }),
    ...(str('display-phone-number') === undefined ? {} : { displayPhoneNumber: str('display-phone-number') }),
    ...(str('access-token') === undefined ? {} : { accessToken: str('access-token') }),
    ...(statusDelaysMs === undefined ? {} : { statusDelaysMs }),
    ...(str('messaging-limit') === undefined ? {} : { messagingLimit: int('messaging-limit', str('messaging-limit'), 0, 1) }),
  };
  return { help: values.help === true, quiet: values.quiet === true, openWindows: list('open-window'), emulator };
}
