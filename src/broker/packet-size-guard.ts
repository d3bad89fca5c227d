/**
 * Watches the bytes of one MQTT connection and reports the first packet whose declared size exceeds
 * the limit, from its fixed header alone — before the broker buffers the body. MQTT 3.1.1 has no way to
 * tell the client the limit, so the only answer is to close the connection [MQTT-2.2.3].
 */
export function createPacketSizeGuard(maxBytes: number, onViolation: (declared: number) => void): (chunk: Buffer) => void {
  let state: 'header' | 'length' | 'body' = 'header';
  let length = 0;
  let multiplier = 1;
  let lengthBytes = 0;
  let remaining = 0;
  let tripped = false;

  return (chunk: Buffer): void => {
    let i = 0;
    while (i < chunk.length && !tripped) {
      if (state === 'header') {
        i++;
        state = 'length';
        length = 0;
        multiplier = 1;
        lengthBytes = 0;
      } else if (state === 'length') {
        const b = chunk[i++]!;
        length += (b & 0x7f) * multiplier;
        multiplier *= 128;
        lengthBytes++;
        if (b & 0x80) {
          // [MQTT-2.2.3] the remaining length takes at most four bytes
          if (lengthBytes === 4) {
            tripped = true;
            onViolation(Infinity);
          }
          continue;
        }
        if (1 + lengthBytes + length > maxBytes) {
          tripped = true;
          onViolation(1 + lengthBytes + length);
        } else if (length === 0) state = 'header';
        else {
          state = 'body';
          remaining = length;
        }
      } else {
        const take = Math.min(remaining, chunk.length - i);
        i += take;
        remaining -= take;
        if (remaining === 0) state = 'header';
      }
    }
  };
}
