// What crews read, in their language (crew.lang; English when the language is not here).

export interface JobText {
  jobId: string;
  zoneName: string;
  /** rideAlong: not due yet, on the way; the crew may leave it when the truck is full */
  stops: { id: string; address: string; fillPct: number | null; rideAlong?: boolean }[];
  map: string;
}

interface Catalog {
  job: (j: JobText) => string;
  fire: (j: JobText, temperatureC: number | null) => string;
  escalated: (j: JobText, crewName: string, minutes: number) => string;
  accepted: (jobId: string) => string;
  done: (jobId: string) => string;
  unknownJob: string;
  accept: string;
  doneButton: string;
}

const stopLines = (j: JobText, rideAlong: string): string =>
  j.stops
    .map((s, i) => {
      const notes = [...(s.fillPct === null ? [] : [`${Math.round(s.fillPct)}%`]), ...(s.rideAlong ? [rideAlong] : [])];
      return `${i + 1}. ${s.id} ${s.address}${notes.length > 0 ? ` (${notes.join(', ')})` : ''}`;
    })
    .join('\n');

const catalogs: Record<string, Catalog> = {
  en: {
    job: (j) => `Job ${j.jobId}: ${j.stops.length} bin${j.stops.length > 1 ? 's' : ''} to empty in ${j.zoneName}\n${stopLines(j, 'if there is room')}\nRoute: ${j.map}\nTap Accept when you set off and Done when all are emptied.`,
    fire: (j, t) => `FIRE ALERT ${j.jobId}: bin ${j.stops[0]!.id} at ${j.stops[0]!.address} (${j.zoneName})${t === null ? '' : ` reads ${Math.round(t)} °C`}. Go now; call 112 if it is burning.\nMap: ${j.map}`,
    escalated: (j, crew, min) => `Not accepted by ${crew} after ${min} min. Job ${j.jobId}: ${j.stops.length} bin(s) in ${j.zoneName}\n${stopLines(j, 'if there is room')}\nRoute: ${j.map}`,
    accepted: (id) => `Job ${id} accepted. Tap Done when every bin is emptied.`,
    done: (id) => `Job ${id} done. Thank you!`,
    unknownJob: 'There is no open job to apply that to.',
    accept: 'Accept',
    doneButton: 'Done',
  },
  nl: {
    job: (j) => `Opdracht ${j.jobId}: ${j.stops.length} ${j.stops.length > 1 ? 'containers' : 'container'} legen in ${j.zoneName}\n${stopLines(j, 'als er ruimte is')}\nRoute: ${j.map}\nTik Accepteren als je vertrekt en Klaar als alles leeg is.`,
    fire: (j, t) => `BRANDALARM ${j.jobId}: container ${j.stops[0]!.id} bij ${j.stops[0]!.address} (${j.zoneName})${t === null ? '' : ` meet ${Math.round(t)} °C`}. Ga direct; bel 112 als het brandt.\nKaart: ${j.map}`,
    escalated: (j, crew, min) => `Niet geaccepteerd door ${crew} na ${min} min. Opdracht ${j.jobId}: ${j.stops.length} container(s) in ${j.zoneName}\n${stopLines(j, 'als er ruimte is')}\nRoute: ${j.map}`,
    accepted: (id) => `Opdracht ${id} geaccepteerd. Tik Klaar als alle containers leeg zijn.`,
    done: (id) => `Opdracht ${id} klaar. Dank je!`,
    unknownJob: 'Er is geen open opdracht om dat op toe te passen.',
    accept: 'Accepteren',
    doneButton: 'Klaar',
  },
};

export function crewCatalog(lang: string): Catalog {
  return catalogs[lang] ?? catalogs.en!;
}

/** The template's body parameters (no newlines: Meta refuses them in parameters). */
export function templateParams(j: JobText): string[] {
  const stops = j.stops.map((s) => `${s.id} ${s.address}`).join('; ');
  // Meta takes at most 1024 characters per body parameter
  const cap = (text: string, n: number): string => (text.length > n ? text.slice(0, n - 3) + '...' : text);
  return [j.jobId, String(j.stops.length), cap(j.zoneName, 200), cap(stops, 900), cap(j.map, 1024)];
}

export type CrewIntent = { action: 'accept' | 'done'; jobId?: string } | null;

const ACCEPT_WORDS = /^(accept(eren)?|ok(e|ay)?|yes|ja|on it|onderweg|go)\b/i;
const DONE_WORDS = /^(done|klaar|gedaan|leeg|finished|emptied|ready)\b/i;

/**
 * What a crew member's message means: a reply button or template quick reply carrying "accept:J-…" /
 * "done:J-…", or free text such as "done", "klaar", "accept J-7K3QX".
 */
export function crewIntent(m: { buttonReplyId?: string | undefined; buttonPayload?: string | undefined; text?: string | undefined }): CrewIntent {
  const coded = m.buttonReplyId ?? m.buttonPayload;
  if (coded) {
    const [action, jobId] = coded.split(':');
    if ((action === 'accept' || action === 'done') && jobId) return { action, jobId };
  }
  const text = (m.text ?? coded ?? '').trim();
  const jobId = /\bJ-[0-9A-Z]{4,8}\b/i.exec(text)?.[0]?.toUpperCase();
  if (DONE_WORDS.test(text)) return { action: 'done', ...(jobId ? { jobId } : {}) };
  if (ACCEPT_WORDS.test(text)) return { action: 'accept', ...(jobId ? { jobId } : {}) };
  return null;
}
