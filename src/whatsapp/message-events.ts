/** What the WhatsApp side tells the rest of the program (through the event bus). */
export interface MessageEvents {
  /** one message in or out, or a delivery status of one, for the `whatsapp_message` counts */
  'message.counted': { direction: 'in' | 'out'; kind: string; status: string; at: number };
  /**
   * An outbox message changed status: `send`, Graph accepted it (`sent`) or it failed for good; `delivery`, Meta's
   * status webhook reported it sent, delivered, read or failed. The outbox item's id only: the recipient and the
   * wamid both carry the number.
   */
  'message.status': { id: number; stage: 'send' | 'delivery'; status: 'sent' | 'delivered' | 'read' | 'failed'; at: number };
}
