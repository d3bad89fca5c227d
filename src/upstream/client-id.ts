import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { UpstreamConfig } from '../config/index.js';

const INSTANCE_FILE = 'instance-id';

/**
 * This instance's id, made once and kept in its data dir. It tells two binbridge processes with the same
 * config apart (each has its own data dir), and stays the same across restarts so the broker's session resumes.
 */
export function readInstanceId(dataDir: string): string {
  const file = path.join(dataDir, INSTANCE_FILE);
  try {
    const id = fs.readFileSync(file, 'utf8').trim();
    if (id) return id;
  } catch {
    // first start: made below
  }
  const id = randomUUID();
  fs.mkdirSync(dataDir, { recursive: true });
  fs.writeFileSync(file, `${id}\n`);
  return id;
}

/**
 * The fixed client id of an upstream's persistent session: the configured one, or binbridge- and 12 hex digits
 * of url, shared group, format, topics and instance (two items may read one broker; each needs its own session).
 * 22 characters: MQTT 3.1.1 servers need only accept 23 [MQTT-3.1.3-5].
 */
export function upstreamClientId(upstream: Pick<UpstreamConfig, 'url' | 'shared_group' | 'client_id' | 'format' | 'topics'>, instanceId: string): string {
  if (upstream.client_id) return upstream.client_id;
  const identity = [upstream.url, upstream.shared_group, upstream.format, upstream.topics.join(' '), instanceId].join('\n');
  const hash = createHash('sha256').update(identity).digest('hex');
  return `binbridge-${hash.slice(0, 12)}`;
}

/** The URL without credentials or query, for logs and metric labels. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname === '/' ? '' : u.pathname}`;
  } catch {
    return '(unparseable url)';
  }
}
