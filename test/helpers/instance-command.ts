// The command line of one binbridge instance on a postgres:// store.url, for the tests (test/helpers/instance.ts) and
// bench:ingest --postgres: the one place that decides it. `binbridge start` refuses such a store.url until every store
// lives in PostgreSQL, so for now a small entry (instance-main.ts) starts the app with the foundation flag; once the
// refusal is lifted this becomes `['--import', 'tsx', 'src/cli.ts', 'start']` and nothing else changes.
// Run with `process.execPath` in the repository's root.
export const INSTANCE_ARGS: readonly string[] = ['--import', 'tsx', 'test/helpers/instance-main.ts'];
