/** The part of a bin's geometry a fill level depends on. */
export interface BinGeometry {
  depth_mm: number;
  sensor_offset_mm: number;
}

/**
 * Converts an ultrasonic distance (sensor to surface) to a fill percentage. The sensor sits
 * `sensor_offset_mm` above the "full" line and the bin is `depth_mm` deep below it, so an empty bin
 * reads offset + depth and a full one reads offset. Readings past either end (noise, an overfilled lid)
 * are clamped to 0..100.
 */
export function fillFromDistance(distanceMm: number, bin: BinGeometry): number {
  const pct = (100 * (bin.depth_mm - (distanceMm - bin.sensor_offset_mm))) / bin.depth_mm;
  return Math.round(Math.min(100, Math.max(0, pct)) * 10) / 10;
}
