export { MqttBroker, type BrokerDeps, type BrokerPorts } from './broker.js';
export { SqliteDeviceSecrets, type DeviceSecrets, type Kdf, type SecretsChange } from './device-secrets.js';
export { PostgresDeviceSecrets } from './device-secrets-postgres.js';
export { loadDeviceKey, DEVICE_KEY_FILE, type DeviceKey } from './device-key.js';
export { canPublish, canRetain, canSubscribe, type Principal, type Decision, type RetainDecision } from './acl.js';
export { createPacketSizeGuard } from './packet-size-guard.js';
export { telemetryTopic, statusTopic, parseBinTopic, parseStatus, type BinTopic, type DeviceStatus } from './topics.js';
