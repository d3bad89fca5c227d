import { createHash, randomBytes, randomInt } from 'node:crypto';

/** A 1×1 baseline JPEG: what a resident's photo is when a test does not supply one. */
export const TINY_JPEG = Buffer.from(
  '/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDAsLDBkSEw8UHRofHh0aHBwgJC4nICIsIxwcKDcpLDAxNDQ0Hyc5PTgyPC4zNDL/wAALCAABAAEBAREA/8QAFAABAAAAAAAAAAAAAAAAAAAACf/EABQQAQAAAAAAAAAAAAAAAAAAAAD/2gAIAQEAAD8AVN//2Q==',
  'base64',
);

/** Media URLs Meta hands out stop working after five minutes. */
export const MEDIA_URL_TTL_MS = 5 * 60 * 1000;

export interface MediaItem {
  id: string;
  bytes: Buffer;
  mimeType: string;
  sha256: string;
}

export class MediaStore {
  private readonly items = new Map<string, MediaItem>();
  /** url token -> (media id, issued at) */
  private readonly grants = new Map<string, { id: string; issuedAt: number }>();

  constructor(private readonly ttlMs = MEDIA_URL_TTL_MS) {}

  add(id: string, bytes: Buffer, mimeType: string): MediaItem {
    const item = { id, bytes, mimeType, sha256: createHash('sha256').update(bytes).digest('hex') };
    this.items.set(id, item);
    return item;
  }

  /** A fresh numeric id (Meta's media ids are digits) holding the given bytes or the tiny JPEG. */
  addNew(bytes: Buffer = TINY_JPEG, mimeType = 'image/jpeg'): MediaItem {
    let id: string;
    do id = `1${String(randomInt(0, 2 ** 47)).padStart(15, '0')}`;
    while (this.items.has(id));
    return this.add(id, bytes, mimeType);
  }

  get(id: string): MediaItem | undefined {
    return this.items.get(id);
  }

  /** Issues a download token for a media id; the URL built from it expires after the TTL. */
  grant(id: string, now: number): string {
    const token = randomBytes(12).toString('hex');
    this.grants.set(token, { id, issuedAt: now });
    return token;
  }

  /** The media behind a token, if the token is for this id and has not expired. */
  redeem(id: string, token: string | undefined, now: number): MediaItem | undefined {
    const grant = token === undefined ? undefined : this.grants.get(token);
    if (!grant || grant.id !== id) return undefined;
    if (now - grant.issuedAt >= this.ttlMs) {
      this.grants.delete(token!);
      return undefined;
    }
    return this.items.get(id);
  }

  clearGrants(): void {
    this.grants.clear();
  }
}
