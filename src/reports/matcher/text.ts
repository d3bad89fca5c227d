// Word-level normalisation shared by the code, kind and address readers. Residents write Dutch, English or both,
// on phones: case, accents and punctuation carry no meaning here.

/** Lower case, accents removed (é → e, ë → e), everything that is not a letter or digit becomes a space. */
export function fold(text: string): string {
  return text
    .normalize('NFD')
    .replace(/\p{M}+/gu, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, ' ')
    .trim();
}

export function words(text: string): string[] {
  const f = fold(text);
  return f === '' ? [] : f.split(' ');
}

/** Words that never name a street: grammar, greetings and the vocabulary of "my bin is full" in both languages. */
export const STOP_WORDS: ReadonlySet<string> = new Set(
  (
    // English
    'a an the at on in into near nearby by of to is are was were be been it its this that these those there here ' +
    'and or not no yes but so from with for has have had since again still very too also just now please pls plz ' +
    'hi hello hey thanks thank you your my our we us me i he she they them can could would will someone somebody ' +
    'come collect collected pick up empty emptied full overflowing overflow overflowed bin bins trash rubbish ' +
    'garbage waste litter bag bags smell smells smelly stinks bad dirty mess next opposite front behind corner side ' +
    'outside day days week weeks today yesterday morning evening tonight hours already number nr no ' +
    // Dutch
    'de het een bij op aan naast voor achter tegenover hoek van der den ter te ten is zijn was waren er hier daar ' +
    'en of niet geen wel ja nee maar dus met sinds al nog steeds weer ook nu graag alstublieft aub svp a.u.b ' +
    'hallo hoi goedemorgen goedemiddag dag dank bedankt u je jij jullie mijn onze ons wij we ik hij zij iemand ' +
    'kan kunnen wil willen moet moeten legen geleegd ophalen opgehaald leeg vol overvol afval vuil vuilnis ' +
    'container containers bak bakken kliko prullenbak vuilnisbak afvalbak zak zakken stinkt stank ligt liggen ' +
    'staat stond rommel dagen weken vandaag gisteren ochtend avond uur nummer huisnummer bij deze die dat dit ' +
    'heel erg zeer meer'
  ).split(' '),
);

/** Dutch street-name endings, longest first so "straatweg" is not read as "...straat" + "weg" twice. */
export const STREET_SUFFIXES: readonly string[] = [
  'plantsoen', 'straatweg', 'straat', 'gracht', 'singel', 'steeg', 'plein', 'markt', 'dreef', 'laan', 'kade',
  'dijk', 'baan', 'park', 'weg', 'hof', 'wal', 'pad',
];
const SUFFIX_SET: ReadonlySet<string> = new Set(STREET_SUFFIXES);

/** Abbreviations and English words that residents use for a Dutch street ending. */
const SUFFIX_ALIASES: ReadonlyMap<string, string> = new Map([
  ['str', 'straat'], ['street', 'straat'],
  ['ln', 'laan'], ['lane', 'laan'], ['avenue', 'laan'], ['ave', 'laan'],
  ['wg', 'weg'], ['road', 'weg'], ['rd', 'weg'],
  ['pln', 'plein'], ['pl', 'plein'], ['square', 'plein'], ['sq', 'plein'],
  ['gr', 'gracht'], ['canal', 'gracht'], ['sngl', 'singel'], ['kd', 'kade'], ['quay', 'kade'], ['dk', 'dijk'],
]);

/** The suffix a word stands for on its own ("str" → "straat"), or undefined. */
export function suffixWord(word: string): string | undefined {
  return SUFFIX_SET.has(word) ? word : SUFFIX_ALIASES.get(word);
}

/** "biltstr" → "biltstraat", "hendrikln" → "hendriklaan": a glued abbreviated ending, expanded. */
export function expandGluedSuffix(word: string): string {
  for (const [abbr, full] of [['str', 'straat'], ['ln', 'laan'], ['wg', 'weg']] as const) {
    if (word.length >= abbr.length + 3 && word.endsWith(abbr)) return word.slice(0, -abbr.length) + full;
  }
  return word;
}

/** The name without its street ending(s): "amsterdamsestraatweg" → "amsterdamse"; undefined when nothing is left. */
export function streetStem(word: string): string | undefined {
  let stem = word;
  for (let again = true; again; ) {
    again = false;
    for (const s of STREET_SUFFIXES) {
      if (stem.length - s.length >= 3 && stem.endsWith(s)) {
        stem = stem.slice(0, -s.length);
        again = true;
        break;
      }
    }
  }
  return stem === word ? undefined : stem;
}

const KIND_WORDS: Readonly<Record<string, readonly string[]>> = {
  rest: ['rest', 'restafval', 'residual'],
  paper: ['paper', 'papier', 'oudpapier', 'karton', 'cardboard'],
  glass: ['glass', 'glas', 'bottles', 'flessen'],
  plastic: ['plastic', 'plastics', 'pmd', 'plastik'],
  organic: ['organic', 'gft', 'bio', 'groente', 'food', 'compost'],
  textile: ['textile', 'textiel', 'kleding', 'clothes'],
};
const KIND_COMPOUND_ENDINGS = ['', 'bak', 'bakken', 'container', 'containers', 'bin', 'bins', 'kliko', 'afval'];

/** word → bin kind, for the kinds this registry has (a kind not listed above is recognised by its own name). */
export function kindLexicon(kinds: Iterable<string>): Map<string, string> {
  const lexicon = new Map<string, string>();
  for (const kind of kinds) {
    const k = fold(kind);
    if (k === '' || k.includes(' ')) continue;
    for (const w of new Set([k, ...(KIND_WORDS[k] ?? [])])) {
      for (const end of KIND_COMPOUND_ENDINGS) if (!lexicon.has(w + end)) lexicon.set(w + end, kind);
    }
  }
  return lexicon;
}
