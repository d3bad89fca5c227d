/** A service type as GeoReport v2 `services.json` lists it. */
export interface Open311Service {
  service_code: string;
  service_name: string;
  description: string;
  metadata: boolean;
  type: 'realtime' | 'batch' | 'blackbox';
  /** comma-separated, as the spec has it */
  keywords: string;
  group: string;
}

// realtime: the reference is answered at once (a report is created synchronously)
export const SERVICES: readonly Open311Service[] = [
  {
    service_code: 'overflowing-bin',
    service_name: 'Overflowing or full waste bin',
    description: 'A public waste container is full or overflowing and needs emptying.',
    metadata: false,
    type: 'realtime',
    keywords: 'bin, container, full, overflowing, waste, garbage, trash',
    group: 'Waste',
  },
  {
    service_code: 'damaged-bin',
    service_name: 'Damaged waste bin',
    description: 'A public waste container is broken, burnt, tipped over or its lid does not close.',
    metadata: false,
    type: 'realtime',
    keywords: 'bin, container, damaged, broken, lid, vandalism',
    group: 'Waste',
  },
  {
    service_code: 'dumped-waste',
    service_name: 'Waste dumped next to a bin',
    description: 'Bags or bulky waste left beside a public waste container.',
    metadata: false,
    type: 'realtime',
    keywords: 'dumping, fly-tipping, bags, bulky waste, litter',
    group: 'Waste',
  },
];

/** The service a report belongs to when it does not say (reports from WhatsApp). */
export const DEFAULT_SERVICE_CODE = 'overflowing-bin';
