export { configSchema, type Config, type RulesConfig, type UpstreamConfig } from './schema.js';
export { loadConfig, envVariables, ConfigError, DEFAULT_CONFIG_FILE, type LoadedConfig } from './load.js';
