/** Where a reading came from; decoders of other formats (TTN, ChirpStack) add theirs. */
export type ReadingSource = 'mqtt' | 'ttn' | 'chirpstack' | 'upstream';

/**
 * One validated measurement of one bin, fill level resolved, timestamp in epoch ms. The one definition: ingest
 * makes it, storage keeps it (without `source`), the rules read part of it; their types are cut from this one.
 */
export interface Reading {
  binId: string;
  ts: number;
  receivedAt: number;
  fillPct: number;
  distanceMm?: number | undefined;
  batteryPct?: number | undefined;
  temperatureC?: number | undefined;
  tilt?: boolean | undefined;
  rssi?: number | undefined;
  source: ReadingSource;
}

/** A reading as the journal, the bin state and the history keep it: where it came from is not kept. */
export type StoredReading = Omit<Reading, 'source'>;

/** The measured values of a reading (an InfluxDB `bin_reading` point's fields and time). */
export type ReadingValues = Omit<Reading, 'binId' | 'receivedAt' | 'source'>;
