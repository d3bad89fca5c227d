import { SqliteContacts, SqliteInboxStore, SqliteOutboxStore } from '../../src/whatsapp/index.js';
import { memoryDb } from '../helpers/db.js';
import { inboxStoreContract, outboxStoreContract } from '../helpers/whatsapp-store-contracts.js';
import { TEST_SEALER as sealer } from '../unit/whatsapp/fixtures.js';

outboxStoreContract('SqliteOutboxStore', () => new SqliteOutboxStore(memoryDb(), sealer));

inboxStoreContract('SqliteInboxStore', () => {
  const db = memoryDb();
  return new SqliteInboxStore(db, sealer, new SqliteContacts(db, sealer));
});
