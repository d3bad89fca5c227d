import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Meta's webhook payloads, shared by the projects (../shared/fixtures/whatsapp from the project root). */
export const FIXTURES =
  process.env.ACCEPTANCE_WHATSAPP ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../shared/fixtures/whatsapp');
