import en from './catalog/en.json' with { type: 'json' };
import nl from './catalog/nl.json' with { type: 'json' };

export type MessageKey = keyof typeof en;
const catalogs: Record<string, Record<MessageKey, string>> = { en, nl };
export const LANGUAGES = Object.keys(catalogs);

/** A message in the resident's language (English when the language has no catalog), placeholders filled. */
export function t(lang: string, key: MessageKey, params: Record<string, string | number> = {}): string {
  const text = (catalogs[lang] ?? en)[key];
  return text.replace(/\{(\w+)\}/g, (_, k: string) => String(params[k] ?? `{${k}}`));
}

const DUTCH = /\b(de|het|een|is|vol|volle|container|afval|vuilnis|bak|prullenbak|ligt|naast|bij|niet|weer|graag|dank|hoi|hallo|goedemorgen|klep|straat|zakken|puin)\b/gi;
const ENGLISH = /\b(the|a|is|full|bin|trash|rubbish|garbage|overflowing|next|to|near|please|thanks|hello|hi|street|bags)\b/gi;

/** The language of a short message, by its common words; null when it does not tell. */
export function detectLanguage(text: string): 'nl' | 'en' | null {
  const nlHits = text.match(DUTCH)?.length ?? 0;
  const enHits = text.match(ENGLISH)?.length ?? 0;
  if (nlHits === 0 && enHits === 0) return null;
  return nlHits > enHits ? 'nl' : 'en';
}
