// The command line of one binbridge instance for the process tests (test/helpers/instance.ts): `binbridge start`
// from the sources, as an operator runs it. Run with `process.execPath` in the repository's root.
export const INSTANCE_ARGS: readonly string[] = ['--import', 'tsx', 'src/cli.ts', 'start'];
