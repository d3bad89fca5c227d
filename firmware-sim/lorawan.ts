import { createHash } from 'node:crypto';
import type { TelemetryPayload } from './bin-model.js';

// What a LoRaWAN network server publishes for a sensor's uplink: The Things Stack v3 (`ttn`) or ChirpStack v4
// (`chirpstack`), in the shapes their MQTT integrations use, including the fields binbridge does not read.

export type NetworkFormat = 'ttn' | 'chirpstack';

export interface NetworkOptions {
  format: NetworkFormat;
  /** application id (TTS) or name (ChirpStack); ChirpStack's application UUID is derived from it */
  app: string;
  /** TTS tenant: `ttn` on The Things Network; empty for The Things Stack Open Source (no @tenant in topics) */
  tenant: string;
  username: string | undefined;
  password: string | undefined;
}

export interface DeviceIds {
  /** TTS device id / ChirpStack device name */
  deviceId: string;
  /** 16 upper-case hex digits */
  devEui: string;
}

export interface Uplink {
  topic: string;
  payload: string;
}

const hex = (text: string, bytes: number): string => createHash('sha256').update(text).digest('hex').slice(0, bytes * 2);

/** A UUID-shaped id derived from a name (ChirpStack names tenants, applications and profiles by UUID). */
function uuidFrom(name: string): string {
  const h = hex(name, 16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/**
 * A bin's network ids: the bins file's device_id / dev_eui columns when it has them, otherwise a DevEUI from a
 * hash of the bin id and the bin id in lower case as device id (TTS ids are lower-case; binbridge matches a
 * device id to a bin id ignoring case).
 */
export function deviceIds(bin: { id: string; device_id?: string | undefined; dev_eui?: string | undefined }): DeviceIds {
  const devEui = (bin.dev_eui || hex(`binbridge-sim:${bin.id}`, 8)).toUpperCase();
  return { deviceId: bin.device_id || bin.id.toLowerCase(), devEui };
}

/** The bytes a bin sensor might send: distance mm (u16), battery % (u8), temperature 0.1 °C (i16), flags (u8). */
function framePayload(r: TelemetryPayload): string {
  const b = Buffer.alloc(6);
  b.writeUInt16BE(Math.min(0xffff, Math.max(0, Math.round(r.distance_mm))), 0);
  b.writeUInt8(Math.min(100, Math.max(0, Math.round(r.battery_pct))), 2);
  b.writeInt16BE(Math.max(-32768, Math.min(32767, Math.round(r.temperature_c * 10))), 3);
  b.writeUInt8(r.tilt ? 1 : 0, 5);
  return b.toString('base64');
}

/** A volt reading for a battery percentage, as a Li-SOCl2 cell would give it (3.0 V empty, 3.6 V full). */
function cellVolts(pct: number): number {
  return Math.round((3.0 + (0.6 * Math.min(100, Math.max(0, pct))) / 100) * 1000) / 1000;
}

/** Gateway reception that stays about the same per device, with a little noise per frame. */
function reception(devEui: string, fCnt: number, gateway: number): { rssi: number; snr: number } {
  const base = parseInt(devEui.slice(gateway * 2, gateway * 2 + 4), 16) / 0xffff;
  const wobble = ((fCnt * 7919 + gateway * 104729) % 11) - 5;
  return { rssi: Math.round(-118 + 50 * base + wobble), snr: Math.round((-8 + 18 * base + wobble / 2) * 4) / 4 };
}

/** Turns one device's readings into its network server's uplink messages; counts frames as the device would. */
export function createUplinkEncoder(ids: DeviceIds, net: Pick<NetworkOptions, 'format' | 'app' | 'tenant'>): (r: TelemetryPayload) => Uplink {
  let fCnt = 0;
  const devAddr = hex(`devaddr:${ids.devEui}`, 4).toUpperCase().replace(/^./, '2');
  return (r) => {
    fCnt++;
    const at = r.ts;
    const gateways = [0, 1].map((g) => ({ g, ...reception(ids.devEui, fCnt, g) }));
    if (net.format === 'ttn') {
      const appId = net.tenant ? `${net.app}@${net.tenant}` : net.app;
      // Milesight EM310-UDL-style decoded payload: distance mm, battery %, position normal/tilt
      const body = {
        end_device_ids: {
          device_id: ids.deviceId,
          application_ids: { application_id: net.app },
          dev_eui: ids.devEui,
          join_eui: '24E124C0002A0001',
          dev_addr: devAddr,
        },
        correlation_ids: [`as:up:${hex(`${ids.devEui}:${fCnt}:as`, 13).toUpperCase()}`, `gs:uplink:${hex(`${ids.devEui}:${fCnt}:gs`, 13).toUpperCase()}`],
        received_at: at,
        uplink_message: {
          session_key_id: Buffer.from(hex(`sk:${ids.devEui}`, 16), 'hex').toString('base64'),
          f_port: 85,
          f_cnt: fCnt,
          frm_payload: framePayload(r),
          decoded_payload: { distance: r.distance_mm, battery: Math.round(r.battery_pct), temperature: r.temperature_c, position: r.tilt ? 'tilt' : 'normal' },
          rx_metadata: gateways.map(({ g, rssi, snr }) => ({
            gateway_ids: { gateway_id: `sim-gateway-${g + 1}`, eui: `AA555A000000010${g + 1}` },
            time: at,
            timestamp: (fCnt * 1_000_003 + g) >>> 0,
            rssi,
            channel_rssi: rssi,
            snr,
            uplink_token: Buffer.from(`sim-gateway-${g + 1}:${fCnt}`).toString('base64'),
          })),
          settings: { data_rate: { lora: { bandwidth: 125000, spreading_factor: 9, coding_rate: '4/5' } }, frequency: '868100000', timestamp: fCnt * 1_000_003 },
          received_at: at,
          consumed_airtime: '0.205824s',
          network_ids: { net_id: '000013', tenant_id: net.tenant || 'default', cluster_id: 'eu1' },
        },
      };
      return { topic: `v3/${appId}/devices/${ids.deviceId}/up`, payload: JSON.stringify(body) };
    }
    const applicationId = uuidFrom(`app:${net.app}`);
    // another common style: distance_mm, a battery voltage, temperature_c, tilt
    const body = {
      deduplicationId: uuidFrom(`dedup:${ids.devEui}:${fCnt}`),
      time: at,
      deviceInfo: {
        tenantId: uuidFrom('tenant:sim'),
        tenantName: 'binbridge-sim',
        applicationId,
        applicationName: net.app,
        deviceProfileId: uuidFrom('profile:bin-sensor'),
        deviceProfileName: 'ultrasonic bin sensor',
        deviceName: ids.deviceId,
        devEui: ids.devEui.toLowerCase(),
        deviceClassEnabled: 'CLASS_A',
        tags: {},
      },
      devAddr: devAddr.toLowerCase(),
      adr: true,
      dr: 3,
      fCnt,
      fPort: 85,
      confirmed: false,
      data: framePayload(r),
      object: { distance_mm: r.distance_mm, batteryVoltage: cellVolts(r.battery_pct), temperature_c: r.temperature_c, tilt: r.tilt },
      rxInfo: gateways.map(({ g, rssi, snr }) => ({
        gatewayId: `0016c001f153a1${(0x4c + g).toString(16)}`,
        uplinkId: (fCnt * 2_654_435_761 + g) >>> 0,
        gwTime: at,
        rssi,
        snr,
        channel: 2,
        location: {},
        context: Buffer.from(`ctx:${fCnt}:${g}`).toString('base64'),
        metadata: { region_config_id: 'eu868', region_common_name: 'EU868' },
        crcStatus: 'CRC_OK',
      })),
      txInfo: { frequency: 868_100_000, modulation: { lora: { bandwidth: 125000, spreadingFactor: 9, codeRate: 'CR_4_5' } } },
    };
    return { topic: `application/${applicationId}/device/${ids.devEui.toLowerCase()}/event/up`, payload: JSON.stringify(body) };
  };
}
