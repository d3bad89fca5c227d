export { binSchema, binIdSchema, type Bin } from './bin.js';
export { parseBinsCsv, parseBinsCsvYielding, parseBinsGeoJson, parseBinsGeoJsonYielding, readBinsFile, binRefProblems, knownFromConfig, BinsFileError, type KnownValues } from './bins-file.js';
export { Registry } from './registry.js';
export { Directory, zonesOfBins } from './directory.js';
export { parseWasteContainers, toWasteContainers, isNgsiLd, type WasteContainerState } from './fiware.js';
