import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Sealer } from '../../../src/whatsapp/index.js';

/** Meta's webhook payloads, from Meta's documentation (test/fixtures/whatsapp). */
export const FIXTURES =
  path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../fixtures/whatsapp');

/** The sealer every WhatsApp test uses: a fixed test secret, so pseudonyms are stable across runs. */
export const TEST_SEALER = new Sealer('binbridge-whatsapp-test-secret');
