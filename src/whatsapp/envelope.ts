// The one builder of WhatsApp Cloud API webhook bodies (the shape of test/fixtures/whatsapp/ and
// ../shared/fixtures/whatsapp/): the Graph API emulator posts them, the sandbox route records a simulated phone's
// message as one, and the demo and tests sign and post them as Meta would.

/** Who the business is in every webhook envelope. */
export interface BusinessIdentity {
  wabaId: string;
  phoneNumberId: string;
  displayPhoneNumber: string;
}

export interface WebhookEnvelope {
  object: 'whatsapp_business_account';
  entry: { id: string; changes: { value: Record<string, unknown>; field: 'messages' }[] }[];
}

/** An inbound message as Meta sends it: who, its id, when (seconds, as a string) and its content by type. */
export interface EnvelopeMessage extends Record<string, unknown> {
  from: string;
  id: string;
  timestamp: string;
  type: string;
}

/** One entry with one `messages` change: `value` (messages, contacts, statuses) after the number's metadata. */
export function webhookEnvelope(business: BusinessIdentity, value: Record<string, unknown>): WebhookEnvelope {
  return {
    object: 'whatsapp_business_account',
    entry: [
      {
        id: business.wabaId,
        changes: [
          {
            value: {
              messaging_product: 'whatsapp',
              metadata: { display_phone_number: business.displayPhoneNumber, phone_number_id: business.phoneNumberId },
              ...value,
            },
            field: 'messages',
          },
        ],
      },
    ],
  };
}

/** A resident's (or crew's) message, with the sender's WhatsApp profile name, as Meta delivers it. */
export function inboundEnvelope(business: BusinessIdentity, message: EnvelopeMessage, name: string): WebhookEnvelope {
  return webhookEnvelope(business, { contacts: [{ profile: { name }, wa_id: message.from }], messages: [message] });
}

/** Meta's timestamps: whole seconds since the epoch, as a string. */
export const webhookSeconds = (ms: number): string => String(Math.floor(ms / 1000));
