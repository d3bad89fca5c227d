// A Server-Sent Events client for tests: reads `GET /api/events` with fetch and keeps every event it parsed.

export interface SseEvent {
  id: string;
  type: string;
  data: unknown;
}

export interface EventStream {
  /** every event received so far, in order */
  readonly events: SseEvent[];
  close(): void;
}

/** Opens the stream and resolves once its headers (and the first comment) arrived, so later events are not missed. */
export async function openEventStream(url: string, headers: Record<string, string> = {}): Promise<EventStream> {
  const ac = new AbortController();
  const res = await fetch(url, { headers, signal: ac.signal });
  if (res.status !== 200 || !res.body) throw new Error(`GET ${url}: ${res.status}`);
  const events: SseEvent[] = [];
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  void (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buffer += value;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const fields = new Map<string, string>();
          for (const line of block.split('\n')) {
            const colon = line.indexOf(':');
            if (colon > 0) fields.set(line.slice(0, colon), line.slice(colon + 1).trimStart());
          }
          const type = fields.get('event');
          if (type !== undefined) events.push({ id: fields.get('id') ?? '', type, data: JSON.parse(fields.get('data') ?? 'null') });
        }
      }
    } catch {
      // aborted by close()
    }
  })();
  return { events, close: () => ac.abort() };
}
