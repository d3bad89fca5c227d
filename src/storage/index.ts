export { openDatabase, type Db } from './database.js';
export { Spool, SpoolFullError, type SpoolBatch, type SpoolStats } from './spool.js';
export { BinStateStore, type BinState, type LatestReading } from './bin-state.js';
export { ReadingJournal, type JournalEntry } from './reading-journal.js';
export { readingPoints, toLine, type FieldValue } from './points.js';
export { recordTelemetry, type TelemetryEvents } from './telemetry-points.js';
export { V1Sink, V2Sink, WriteError, type InfluxSink } from './influx-sink.js';
export { InfluxWriter, type WriterOptions } from './influx-writer.js';
export { where } from './where.js';
