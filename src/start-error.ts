/**
 * A start-up failure that the operator fixes with a setting (a port in use, a host that is not this machine's):
 * the command line says it in one line, naming the setting and its variable, and exits 2 without a stack trace.
 */
export class StartError extends Error {
  override readonly name = 'StartError';
}

const REASONS: Record<string, { reason: string; fix: 'port' | 'host' }> = {
  EADDRINUSE: { reason: 'address in use', fix: 'port' },
  EACCES: { reason: 'permission denied; ports below 1024 need privileges', fix: 'port' },
  EADDRNOTAVAIL: { reason: 'not an address of this machine', fix: 'host' },
  ENOTFOUND: { reason: 'unknown host', fix: 'host' },
};

/** A listener and the settings that place it, e.g. { port: 1883, host: '0.0.0.0', portKey: 'mqtt.port', hostKey: 'mqtt.host' }. */
export interface ListenerSettings {
  port: number;
  host: string;
  portKey: string;
  hostKey: string;
}

/** BINBRIDGE_<PATH>, the variable that overrides a config key (config/load.ts builds the same names). */
const variableOf = (key: string): string => `BINBRIDGE_${key.replaceAll('.', '_').toUpperCase()}`;

/** A listen error as a StartError naming the address and the setting that changes it; other errors as they are. */
export function listenFailure(err: unknown, listeners: readonly ListenerSettings[]): unknown {
  const e = err as NodeJS.ErrnoException & { port?: number; address?: string; hostname?: string };
  const known = REASONS[e.code ?? ''];
  if (!known || listeners.length === 0) return err;
  const l = listeners.find((x) => x.port === e.port && x.port !== 0) ?? listeners.find((x) => x.host === e.hostname) ?? listeners[0]!;
  const host = e.address ?? l.host;
  const where = `${host.includes(':') ? `[${host}]` : host}:${e.port ?? l.port}`;
  const key = known.fix === 'port' ? l.portKey : l.hostKey;
  return new StartError(`cannot listen on ${where} (${known.reason}; set ${key} or ${variableOf(key)})`, { cause: err });
}
