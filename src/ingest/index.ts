export { Ingest, readingLines, type IngestOutcome, type IngestOptions } from './ingest.js';
export { RejectionLog } from './rejection-log.js';
export { decodeNative, validateMeasurement, type Decoded } from './decode-native.js';
export { toReading, parseTimestamp } from './to-reading.js';
export { fillFromDistance, type BinGeometry } from './fill.js';
export { measurementSchema, type Measurement, type Reading, type ReadingSource, type RejectReason, type Rejection } from './reading.js';
