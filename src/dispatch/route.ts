import { distance } from 'geokdbush';

export interface Stop {
  id: string;
  lat: number;
  lon: number;
  address?: string;
}

/**
 * Orders stops as a crew would drive them: from the first stop, always on to the nearest one not yet
 * visited (great-circle distance). Good enough for the handful of bins of one zone's job.
 */
export function routeOrder<T extends Stop>(stops: readonly T[]): T[] {
  if (stops.length <= 2) return [...stops];
  const left = [...stops];
  const route = [left.shift()!];
  while (left.length > 0) {
    const at = route[route.length - 1]!;
    let best = 0;
    let bestKm = Infinity;
    left.forEach((s, i) => {
      const km = distance(at.lon, at.lat, s.lon, s.lat);
      if (km < bestKm) {
        bestKm = km;
        best = i;
      }
    });
    route.push(left.splice(best, 1)[0]!);
  }
  return route;
}

/** Total length of a route in kilometres. */
export function routeKm(stops: readonly Stop[]): number {
  let km = 0;
  for (let i = 1; i < stops.length; i++) km += distance(stops[i - 1]!.lon, stops[i - 1]!.lat, stops[i]!.lon, stops[i]!.lat);
  return km;
}

const MAX_WAYPOINTS = 9;

/** A Google Maps directions link through the stops, in order (opens in the crew's maps app). */
export function mapLink(stops: readonly Stop[]): string {
  const at = (s: Stop): string => `${s.lat.toFixed(6)},${s.lon.toFixed(6)}`;
  const u = new URL('https://www.google.com/maps/dir/');
  u.searchParams.set('api', '1');
  if (stops.length === 1) {
    u.searchParams.set('destination', at(stops[0]!));
  } else if (stops.length > 1) {
    u.searchParams.set('origin', at(stops[0]!));
    u.searchParams.set('destination', at(stops[stops.length - 1]!));
    // Maps URLs take at most 9 waypoints; a longer route is still in the message's list of stops
    const via = stops.slice(1, -1).slice(0, MAX_WAYPOINTS).map(at);
    if (via.length > 0) u.searchParams.set('waypoints', via.join('|'));
  }
  u.searchParams.set('travelmode', 'driving');
  return u.toString();
}
