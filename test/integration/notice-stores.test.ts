// The NoticeStore and Contacts contracts on SQLite and on a real PostgreSQL, where two pools on one database are two
// instances; and the PostgreSQL inbox and PostgresContacts share one record of when each user last wrote.
import { describe, expect, it } from 'vitest';
import { PostgresNoticeStore, SqliteNoticeStore } from '../../src/notices/index.js';
import { PostgresContacts, PostgresInboxStore, SqliteContacts, parseWebhook, recordDeliveries } from '../../src/whatsapp/index.js';
import { webhookEnvelope } from '../../src/whatsapp/envelope.js';
import { memoryDb } from '../helpers/db.js';
import { contactsContract, noticeStoreContract } from '../helpers/notice-store-contracts.js';
import { postgresCluster } from '../helpers/postgres.js';
import { TEST_SEALER as sealer } from '../unit/whatsapp/fixtures.js';

const cluster = postgresCluster();

noticeStoreContract('SqliteNoticeStore', () => ({ store: new SqliteNoticeStore(memoryDb(), sealer) }));
noticeStoreContract(
  'PostgresNoticeStore',
  async () => {
    const [one, two] = await cluster.twoInstances();
    return { store: new PostgresNoticeStore(one, sealer), second: new PostgresNoticeStore(two, sealer) };
  },
  { shared: true },
);

contactsContract('SqliteContacts', () => ({ contacts: new SqliteContacts(memoryDb(), sealer) }));
contactsContract(
  'PostgresContacts',
  async () => {
    const [one, two] = await cluster.twoInstances();
    return { contacts: new PostgresContacts(() => one, sealer), second: new PostgresContacts(() => two, sealer) };
  },
  { shared: true },
);

describe('PostgresContacts and the PostgreSQL inbox', () => {
  it('see one window: a message recorded by the inbox at one instance opens it at the other', async () => {
    const [one, two] = await cluster.twoInstances();
    const at = Date.now();
    const from = '31650009999';
    const body = webhookEnvelope({ wabaId: 'waba', phoneNumberId: 'phone', displayPhoneNumber: '31100000000' }, {
      contacts: [{ profile: { name: 'R' }, wa_id: from }],
      messages: [{ from, id: 'wamid.window.1', timestamp: String(Math.floor(at / 1000)), type: 'text', text: { body: 'hello' } }],
    });
    const rawBody = Buffer.from(JSON.stringify(body));
    const inbox = new PostgresInboxStore(one, sealer);
    await recordDeliveries(inbox, [{ rawBody, bodyTag: inbox.bodyTag(rawBody), parsed: parseWebhook(JSON.parse(rawBody.toString('utf8'))) }], at);
    const contacts = new PostgresContacts(() => two, sealer);
    expect(await contacts.inWindow(from, at + 1000)).toBe(true);
    expect(await contacts.lastInbound(from)).toBe(Math.floor(at / 1000) * 1000);
  });
});
