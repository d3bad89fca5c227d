// The bins map: one marker per bin, coloured by fill, clustered (Leaflet.markercluster) where bins are closer than
// a marker can show apart, so a click always lands on the bin it looks like; bins that stay together at the
// closest zoom spread out (spiderfy) on a click. Tiles are a bonus: without them (offline) the markers still show
// on a blank map.
import L from './leaflet.js';
import { batched, h } from './dom.js';
import { plural } from './plural.js';

export const COLOURS = {
  green: '#2f9e63',
  amber: '#f0a020',
  red: '#d64545',
  none: '#9aa3ad',
  fire: '#8e3fd6',
};

/** How much a level calls for attention: a cluster takes the colour of its most urgent bin. */
const URGENCY = { none: 0, green: 1, amber: 2, red: 3, fire: 4 };

/** What the map shows of a bin: its colour level and the flags the filters use. */
export function classify(bin) {
  const s = bin.state;
  const fill = s?.fill_pct ?? null;
  const fire = bin.alerts.has('fire');
  const offline = s?.status === 'offline' || bin.alerts.has('offline');
  const level = fire ? 'fire' : fill === null ? 'none' : fill >= 80 ? 'red' : fill >= 50 ? 'amber' : 'green';
  return {
    level,
    fire,
    offline,
    full: (fill !== null && fill >= 80) || bin.alerts.has('full'),
    battery: bin.alerts.has('battery_low') || (s?.battery_pct !== null && s?.battery_pct !== undefined && s.battery_pct < 15),
    suspect: bin.alerts.has('sensor_suspect'),
  };
}

// the marker's look comes from its data-* attributes (style.css), so a new reading only changes attributes
const BIN_ICON = L.divIcon({ className: 'bin-marker', html: '', iconSize: null, iconAnchor: null });

export class BinMap {
  constructor(el, { onSelect, onMapClick }) {
    this.markers = new Map();
    this.filters = new Set();
    this.selected = null;
    this.onSelect = onSelect;
    this.onMapClick = onMapClick;
    this.map = L.map(el, { zoomControl: true, zoomSnap: 0.5, attributionControl: true }).setView([52.09, 5.12], 13);
    this.tilesFailed = 0;
    const tiles = L.tileLayer('https://tile.openstreetmap.org/{z}/{x}/{y}.png', {
      maxZoom: 19,
      attribution: '&copy; <a href="https://www.openstreetmap.org/copyright" target="_blank" rel="noopener">OpenStreetMap</a>',
    });
    tiles.on('tileerror', () => {
      if (++this.tilesFailed === 4) el.classList.add('no-tiles');
    });
    tiles.on('tileload', () => el.classList.remove('no-tiles'));
    tiles.addTo(this.map);
    this.map.on('click', (e) => this.onMapClick?.(e.latlng));
    this.layer = L.markerClusterGroup({
      // a city overview groups a district; from street level on, only bins a marker's width apart stay together
      maxClusterRadius: (zoom) => (zoom >= 17 ? 18 : zoom >= 15 ? 32 : 48),
      showCoverageOnHover: false,
      spiderfyOnMaxZoom: true,
      spiderfyDistanceMultiplier: 1.6,
      chunkedLoading: true,
      iconCreateFunction: (cluster) => clusterIcon(cluster),
    });
    this.layer.addTo(this.map);
    /** markers whose look changed: their clusters' colours are refreshed once per frame */
    this.dirty = new Set();
    this.refreshClusters = batched(() => {
      const changed = [...this.dirty].filter((m) => this.layer.hasLayer(m));
      this.dirty.clear();
      if (changed.length) this.layer.refreshClusters(changed);
    });
  }

  /** All bins (first load and refreshes); fits the view the first time. */
  setBins(bins) {
    const first = this.markers.size === 0;
    const ids = new Set(bins.map((b) => b.id));
    const added = [];
    for (const bin of bins) {
      const m = this.upsert(bin, false);
      if (m) added.push(m);
    }
    for (const id of [...this.markers.keys()]) if (!ids.has(id)) this.remove(id);
    // one pass for many markers: adding them one by one re-clusters each time
    this.layer.addLayers(added);
    if (first && this.markers.size > 0) this.map.fitBounds(this.layer.getBounds(), { padding: [24, 24] });
  }

  /** A bin's marker, made or moved; a new visible marker is returned instead of added when `add` is false. */
  upsert(bin, add = true) {
    let m = this.markers.get(bin.id);
    const isNew = !m;
    if (!m) {
      m = L.marker([bin.lat, bin.lon], { icon: BIN_ICON, keyboard: false, bubblingMouseEvents: false });
      m.on('click', () => {
        if (this.onMapClick?.(m.getLatLng(), bin.id)) return; // a location share took the click: the bin's own position
        this.onSelect(bin.id);
      });
      m.on('add', () => this.decorate(m));
      m.bindTooltip('', { direction: 'top', offset: [0, -8] });
      this.markers.set(bin.id, m);
    } else if (!m.getLatLng().equals([bin.lat, bin.lon])) {
      // markercluster places a marker once: a move is a remove and an add
      const shown = this.layer.hasLayer(m);
      if (shown) this.layer.removeLayer(m);
      m.setLatLng([bin.lat, bin.lon]);
      if (shown) this.layer.addLayer(m);
    }
    m.bin = bin;
    this.restyle(bin.id, { add: add || !isNew });
    return !add && isNew && this.visible(m) ? m : null;
  }

  remove(id) {
    const m = this.markers.get(id);
    if (m) this.layer.removeLayer(m);
    this.markers.delete(id);
    if (this.selected === id) this.selected = null;
  }

  visible(m) {
    return this.filters.size === 0 || [...this.filters].some((f) => m.flags?.[f]);
  }

  /** Colour, ring, tooltip and visibility of one bin from its current state. */
  restyle(id, { add = true } = {}) {
    const m = this.markers.get(id);
    if (!m) return;
    const c = classify(m.bin);
    const before = m.flags?.level;
    m.flags = c;
    const fill = m.bin.state?.fill_pct;
    m.setTooltipContent(`${id} · ${fill === null || fill === undefined ? 'no data' : `${Math.round(fill)} %`}${c.offline ? ' · offline' : ''}${c.fire ? ' · FIRE' : ''}`);
    m.setZIndexOffset(this.selected === id ? 2000 : c.level === 'fire' ? 1500 : c.level === 'red' ? 1000 : 0);
    const visible = this.visible(m);
    const shown = this.layer.hasLayer(m);
    if (visible && !shown && add) this.layer.addLayer(m);
    else if (!visible && shown) this.layer.removeLayer(m);
    else if (shown) {
      this.decorate(m);
      if (before !== c.level) {
        this.dirty.add(m);
        this.refreshClusters();
      }
    }
  }

  restyleAll() {
    for (const id of this.markers.keys()) this.restyle(id);
  }

  setFilters(filters) {
    this.filters = new Set(filters);
    const show = [];
    const hide = [];
    for (const m of this.markers.values()) {
      const visible = this.visible(m);
      if (visible && !this.layer.hasLayer(m)) show.push(m);
      else if (!visible && this.layer.hasLayer(m)) hide.push(m);
    }
    this.layer.removeLayers(hide);
    this.layer.addLayers(show);
  }

  /** Marks a bin selected; `pan` (a bin chosen from a list) also zooms or spreads its cluster so it shows. */
  select(id, { pan = false } = {}) {
    const before = this.selected;
    this.selected = id;
    if (before) this.restyle(before);
    if (!id) return;
    this.restyle(id);
    const m = this.markers.get(id);
    if (m && pan && this.layer.hasLayer(m)) this.layer.zoomToShowLayer(m);
  }

  /** Pans just enough that the bin is not hidden under an overlay of `size` [w, h] at the bottom left. */
  reveal(id, size) {
    const m = this.markers.get(id);
    if (!m) return;
    const p = this.map.latLngToContainerPoint(m.getLatLng());
    const box = this.map.getSize();
    if (p.x < size[0] + 16 && p.y > box.y - size[1] - 16) this.map.panInside(m.getLatLng(), { paddingTopLeft: [size[0] + 24, 24], paddingBottomRight: [24, 24] });
  }

  setArmed(armed) {
    this.map.getContainer().classList.toggle('armed', armed);
  }

  /** data-* attributes on the marker's element (Leaflet makes a new one each time a marker is added). */
  decorate(m) {
    const el = m.getElement?.();
    if (!el || !m.bin) return;
    el.setAttribute('data-bin', m.bin.id);
    el.setAttribute('data-level', m.flags?.level ?? 'none');
    el.setAttribute('data-offline', String(Boolean(m.flags?.offline)));
    el.setAttribute('data-selected', String(this.selected === m.bin.id));
  }
}

/** A cluster: how many bins, in the colour of the most urgent, and how many of them are full. */
function clusterIcon(cluster) {
  const bins = cluster.getAllChildMarkers();
  let level = 'none';
  let full = 0;
  for (const m of bins) {
    const l = m.flags?.level ?? 'none';
    if (URGENCY[l] > URGENCY[level]) level = l;
    if (m.flags?.full) full++;
  }
  const n = bins.length;
  const size = n < 10 ? 30 : n < 50 ? 36 : 42;
  const label = `${plural(n, 'bin')}${full ? `, ${full} full` : ''}: click to zoom in`;
  return L.divIcon({
    className: `bin-cluster level-${level}`,
    html: h('span', { title: label, 'aria-label': label, dataset: { count: String(n) } }, String(n)),
    iconSize: [size, size],
  });
}
