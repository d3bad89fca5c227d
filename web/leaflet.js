// Leaflet with Leaflet.markercluster. The plugin is a UMD script that adds its classes to a global `L`, and an ES
// module namespace cannot be added to: it gets a plain copy of Leaflet's exports, which the page then uses.
import * as Leaflet from '/vendor/leaflet/leaflet-src.esm.js';

const L = { ...Leaflet };
globalThis.L = L;
await import('/vendor/leaflet.markercluster/leaflet.markercluster-src.js');

export default L;
