export * from './types.js';
export { loadConfig, resolveConfig, findConfigFile, CONFIG_FILE_NAME } from './load.js';
export {
  BUILTIN_CATEGORIES,
  DEFAULT_LOG_RETENTION_DAYS,
  MIN_LOG_RETENTION_DAYS,
  configSchema,
} from './schema.js';
