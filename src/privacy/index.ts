// The privacy primitive: keyed pseudonyms and sealing (AES-256-GCM) of what names a person. A leaf: it imports
// nothing of the program, and everything that stores a resident's or crew's number goes through it.
export { Sealer, loadSealer, GENERATED_KEY_FILE } from './sealer.js';
