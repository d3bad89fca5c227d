// One PostgreSQL cluster for the whole run, when Debian's postgresql is installed: the store tests make a fresh
// database in it per test (test/helpers/postgres.ts, postgresCluster), instead of an initdb and a server start per
// file. A test that stops the server asks for a cluster of its own. BB_SHARED_POSTGRES=0 starts none.
import type { TestProject } from 'vitest/node';
import { postgresInstalled, startPostgres, type Postgres } from './helpers/servers.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** the run's shared cluster (null: none; each test file starts its own) */
    sharedPostgres: { url: string; port: number } | null;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  let server: Postgres | null = null;
  if (process.env.BB_SHARED_POSTGRES !== '0' && postgresInstalled()) server = await startPostgres();
  project.provide('sharedPostgres', server && { url: server.url, port: server.port });
  return async () => {
    await server?.destroy();
  };
}
