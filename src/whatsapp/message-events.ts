/** What the WhatsApp side tells the rest of the program (through the event bus): one message in or out, or a
 * delivery status of one, for the `whatsapp_message` counts. */
export interface MessageEvents {
  'message.counted': { direction: 'in' | 'out'; kind: string; status: string; at: number };
}
