// The bins map: one Leaflet circle marker per bin, coloured by fill. Tiles are a bonus: without them (offline)
// the markers still show on a blank map.
import * as L from '/vendor/leaflet/leaflet-src.esm.js';

export const COLOURS = {
  green: '#2f9e63',
  amber: '#f0a020',
  red: '#d64545',
  none: '#9aa3ad',
  fire: '#8e3fd6',
};

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

export class BinMap {
  constructor(el, { onSelect, onMapClick }) {
    this.markers = new Map();
    this.filters = new Set();
    this.selected = null;
    this.onSelect = onSelect;
    this.onMapClick = onMapClick;
    this.map = L.map(el, { zoomControl: true, zoomSnap: 0.5, preferCanvas: false, attributionControl: true }).setView([52.09, 5.12], 13);
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
    this.layer = L.featureGroup().addTo(this.map);
  }

  /** All bins (first load and refreshes); fits the view the first time. */
  setBins(bins) {
    const first = this.markers.size === 0;
    for (const bin of bins) this.upsert(bin);
    for (const id of [...this.markers.keys()]) if (!bins.some((b) => b.id === id)) this.remove(id);
    if (first && this.markers.size > 0) this.map.fitBounds(this.layer.getBounds(), { padding: [24, 24] });
  }

  upsert(bin) {
    let m = this.markers.get(bin.id);
    if (!m) {
      m = L.circleMarker([bin.lat, bin.lon], { radius: 7, className: 'bin-marker', bubblingMouseEvents: false });
      m.on('click', () => {
        if (this.onMapClick?.(m.getLatLng(), bin.id)) return; // a location share took the click: the bin's own position
        this.onSelect(bin.id);
      });
      m.on('add', () => this.decorate(m));
      m.bindTooltip('', { direction: 'top', offset: [0, -6] });
      this.markers.set(bin.id, m);
    } else m.setLatLng([bin.lat, bin.lon]);
    m.bin = bin;
    this.restyle(bin.id);
  }

  remove(id) {
    const m = this.markers.get(id);
    if (m) this.layer.removeLayer(m);
    this.markers.delete(id);
  }

  /** Colour, ring, tooltip and visibility of one bin from its current state. */
  restyle(id) {
    const m = this.markers.get(id);
    if (!m) return;
    const c = classify(m.bin);
    m.flags = c;
    const selected = this.selected === id;
    m.setStyle({
      radius: selected ? 11 : c.fire ? 9 : 7,
      fillColor: COLOURS[c.level],
      fillOpacity: c.level === 'none' ? 0.7 : 0.92,
      color: selected ? '#1565c0' : c.offline ? '#000' : c.fire ? '#ff6a00' : '#fff',
      weight: selected ? 3.5 : c.offline || c.fire ? 3 : 1.5,
    });
    const fill = m.bin.state?.fill_pct;
    m.setTooltipContent(`${id} · ${fill === null || fill === undefined ? 'no data' : `${Math.round(fill)} %`}${c.offline ? ' · offline' : ''}${c.fire ? ' · FIRE' : ''}`);
    const visible = this.filters.size === 0 || [...this.filters].some((f) => c[f]);
    if (visible && !this.layer.hasLayer(m)) this.layer.addLayer(m);
    else if (!visible && this.layer.hasLayer(m)) this.layer.removeLayer(m);
    else if (visible) this.decorate(m);
    if (visible && (selected || c.level === 'red' || c.level === 'fire')) m.bringToFront();
  }

  restyleAll() {
    for (const id of this.markers.keys()) this.restyle(id);
  }

  setFilters(filters) {
    this.filters = new Set(filters);
    this.restyleAll();
  }

  select(id, { pan = false } = {}) {
    const before = this.selected;
    this.selected = id;
    if (before) this.restyle(before);
    if (id) {
      this.restyle(id);
      const m = this.markers.get(id);
      if (m && pan) this.map.panTo(m.getLatLng());
    }
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

  /** data-* attributes on the SVG path (Leaflet makes a new one each time a marker is added). */
  decorate(m) {
    const el = m.getElement?.();
    if (!el || !m.bin) return;
    el.setAttribute('data-bin', m.bin.id);
    el.setAttribute('data-level', m.flags?.level ?? 'none');
    el.setAttribute('data-offline', String(Boolean(m.flags?.offline)));
  }
}
