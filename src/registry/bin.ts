import { z } from 'zod';

/** The code printed on the bin's sticker and QR code. */
export const binIdSchema = z.string().trim().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'letters, digits, ".", "_" or "-" (max 64)');

// every string bounded: bins also arrive through the admin API (PUT, imports)
export const binSchema = z.object({
  id: binIdSchema,
  lat: z.coerce.number().min(-90).max(90),
  lon: z.coerce.number().min(-180).max(180),
  address: z.string().trim().max(500).default(''),
  zone: z.string().trim().min(1, 'a zone id').max(64),
  kind: z.string().trim().min(1, 'a kind such as rest, paper, glass').max(64),
  capacity_l: z.coerce.number().int().positive(),
  depth_mm: z.coerce.number().int().min(100).max(10_000),
  sensor_offset_mm: z.coerce.number().int().min(0).max(2000).default(0),
  // LoRaWAN devices: the network server's device id / DevEUI, when they differ from the bin id
  device_id: z
    .string()
    .trim()
    .max(128)
    .transform((v) => v || undefined)
    .optional(),
  dev_eui: z
    .string()
    .trim()
    .max(64)
    .transform((v) => v.toLowerCase() || undefined)
    .optional(),
});

export type Bin = z.infer<typeof binSchema>;
