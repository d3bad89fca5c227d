export { binSchema, binIdSchema, type Bin } from './bin.js';
export { parseBinsCsv, parseBinsCsvYielding, parseBinsGeoJson, parseBinsGeoJsonYielding, readBinsFile, binRefProblems, knownFromConfig, BinsFileError, type KnownValues } from './bins-file.js';
export { SqliteBinRegistry, type BinRegistry } from './bin-registry.js';
export { PostgresBinRegistry, PostgresZonesAndCrews } from './registry-postgres.js';
export { SqliteZonesAndCrews, zonesOfBins, type ZonesAndCrews } from './zones-and-crews.js';
export { parseWasteContainers, toWasteContainers, isNgsiLd, type WasteContainerState } from './fiware.js';
