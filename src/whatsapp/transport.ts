import type { OutboundMessage } from './messages.js';

/**
 * Hands one message to WhatsApp and returns its message id, or throws a GraphError.
 * Implementations: GraphClient (the Cloud API) and SandboxTransport (records, never sends).
 */
export interface MessageTransport {
  send(msg: OutboundMessage): Promise<{ wamid: string }>;
}
