export { binSchema, binIdSchema, type Bin } from './bin.js';
export { parseBinsCsv, parseBinsGeoJson, readBinsFile, BinsFileError } from './bins-file.js';
export { Registry } from './registry.js';
export { Directory } from './directory.js';
export { parseWasteContainers, toWasteContainers, isNgsiLd, type WasteContainerState } from './fiware.js';
