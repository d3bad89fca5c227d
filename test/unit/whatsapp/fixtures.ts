import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Sealer } from '../../../src/whatsapp/index.js';

/** Meta's webhook payloads, shared by the projects (../shared/fixtures/whatsapp from the project root). */
export const FIXTURES =
  process.env.ACCEPTANCE_WHATSAPP ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../shared/fixtures/whatsapp');

/** The sealer every WhatsApp test uses: a fixed test secret, so pseudonyms are stable across runs. */
export const TEST_SEALER = new Sealer('binbridge-whatsapp-test-secret');
