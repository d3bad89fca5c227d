export { Ingest, type IngestOutcome, type IngestOptions } from './ingest.js';
export { RejectionLog } from './rejection-log.js';
export { decodeNative, validateMeasurement, type Decoded } from './decode-native.js';
export { toReading } from './to-reading.js';
export { parseTimestamp, readTimestamp, type TimestampResult } from './timestamp.js';
export { fillFromDistance, type BinGeometry } from './fill.js';
export { measurementSchema, type Measurement, type Reading, type ReadingSource, type RejectReason, type Rejection } from './reading.js';
// LoRaWAN network servers' uplinks: The Things Stack v3 and ChirpStack v4, and the field names they share
export { decodeTtnUplink } from './decode-ttn.js';
export { decodeChirpstackUplink } from './decode-chirpstack.js';
export { batteryPctFromVolts, measurementFromFields, type FieldMapping, type LorawanUplink, type UplinkDevice } from './lorawan-fields.js';
