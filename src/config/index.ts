export { configSchema, zoneSchema, crewSchema, type Config, type RulesConfig, type UpstreamConfig, type Zone, type Crew } from './schema.js';
export { loadConfig, envVariables, ConfigError, DEFAULT_CONFIG_FILE, type LoadedConfig } from './load.js';
