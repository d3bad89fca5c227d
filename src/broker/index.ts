export { MqttBroker, type BrokerDeps, type BrokerPorts } from './broker.js';
export { DeviceSecrets } from './device-secrets.js';
export { canPublish, canSubscribe, type Principal, type Decision } from './acl.js';
export { createPacketSizeGuard } from './packet-size-guard.js';
export { telemetryTopic, statusTopic, parseBinTopic, type BinTopic } from './topics.js';
