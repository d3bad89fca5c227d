import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';

export interface MediaSource {
  /** Downloads a WhatsApp media object now (its URL expires within minutes); refuses more than maxBytes. */
  fetch(mediaId: string, maxBytes: number): Promise<{ bytes: Buffer; mime: string }>;
}

export class MediaTooLarge extends Error {}

/** The Cloud API's media endpoint: GET /{version}/{media-id} for a short-lived URL, then the bytes (bearer both times). */
export class GraphMedia implements MediaSource {
  constructor(private readonly opts: { graphUrl: string; apiVersion: string; accessToken: string; timeoutMs?: number }) {}

  async fetch(mediaId: string, maxBytes: number): Promise<{ bytes: Buffer; mime: string }> {
    const auth = { authorization: `Bearer ${this.opts.accessToken}` };
    const signal = () => AbortSignal.timeout(this.opts.timeoutMs ?? 15_000);
    const meta = await fetch(`${this.opts.graphUrl.replace(/\/$/, '')}/${this.opts.apiVersion}/${encodeURIComponent(mediaId)}`, { headers: auth, signal: signal() });
    if (!meta.ok) throw new Error(`media ${mediaId}: Graph answered ${meta.status}`);
    const info = (await meta.json()) as { url?: string; mime_type?: string; file_size?: number };
    if (!info.url) throw new Error(`media ${mediaId}: no url`);
    if (info.file_size !== undefined && info.file_size > maxBytes) throw new MediaTooLarge(`media ${mediaId} is ${info.file_size} bytes`);
    const res = await fetch(info.url, { headers: auth, signal: signal() });
    if (!res.ok || !res.body) throw new Error(`media ${mediaId}: download answered ${res.status}`);
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      size += chunk.length;
      if (size > maxBytes) throw new MediaTooLarge(`media ${mediaId} is over ${maxBytes} bytes`);
      chunks.push(Buffer.from(chunk));
    }
    return { bytes: Buffer.concat(chunks), mime: info.mime_type ?? res.headers.get('content-type') ?? 'application/octet-stream' };
  }
}

const EXT: Record<string, string> = { 'image/jpeg': '.jpg', 'image/png': '.png', 'image/webp': '.webp' };

/** Residents' report photos, by file name; names carry no personal data. On disk, or in PostgreSQL (photos-postgres.ts). */
export interface PhotoStore {
  /** Stores a photo under a name made of `name` and the type's extension; returns that file name. */
  save(name: string, bytes: Buffer, mime: string): Promise<string>;
  /** The photo's bytes as a stream, or null when there is no such photo. */
  open(file: string): Promise<Readable | null>;
  remove(file: string): Promise<void>;
}

/** The file name a photo is kept under: `name` without anything but letters, digits, _ and -, and the type's extension. */
export function photoFileName(name: string, mime: string): string {
  return `${name.replace(/[^A-Za-z0-9_-]/g, '')}${EXT[mime] ?? '.bin'}`;
}

/** The PhotoStore in a folder, data_dir/photos, each photo a file readable by binbridge's user only. */
export class DiskPhotoStore implements PhotoStore {
  readonly dir: string;
  constructor(dataDir: string) {
    this.dir = path.join(dataDir, 'photos');
    fs.mkdirSync(this.dir, { recursive: true });
  }

  async save(name: string, bytes: Buffer, mime: string): Promise<string> {
    const file = photoFileName(name, mime);
    fs.writeFileSync(path.join(this.dir, file), bytes, { mode: 0o600 });
    return file;
  }

  path(file: string): string {
    return path.join(this.dir, path.basename(file));
  }

  async open(file: string): Promise<Readable | null> {
    const p = this.path(file);
    return fs.existsSync(p) ? fs.createReadStream(p) : null;
  }

  async remove(file: string): Promise<void> {
    fs.rmSync(this.path(file), { force: true });
  }
}
