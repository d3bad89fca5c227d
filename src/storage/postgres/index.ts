export { StoreConnectionError, checkConnection, connectionFailure, openPool, redactText, redactUrl, type Pool, type PoolClient, type PoolOptions } from './pool.js';
export { POSTGRES_ONLY_TABLES, migratePostgres, postgresMigrations, postgresSchemaVersion, type PostgresMigration } from './migrate.js';
export { POSTGRES_LAYOUTS } from './layouts.js';
export { PostgresUnitOfWork } from './unit-of-work.js';
export { PostgresLease, type PostgresLeaseOptions } from './lease.js';
export { PostgresSpool, type PoolSource, type PostgresSpoolOptions } from './spool.js';
export { PostgresBinStateStore, newerState } from './bin-state.js';
export { PostgresReadingHistory } from './reading-history.js';
export { PostgresReadingJournal } from './journal.js';
