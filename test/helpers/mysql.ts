import assert from 'node:assert/strict';
import type { SinkEntry } from '../../src/index.js';
import { after } from 'node:test';
import { createPool, type Pool } from 'mysql2/promise';
import { mysql, serviceGate } from './services.js';

export const mysqlUri = process.env['SLUICE_TEST_MYSQL'] ?? 'mysql://root@127.0.0.1:3306/test';

/**
 * For a test file that needs MySQL or MariaDB: `skip` is a one-line reason when it is
 * unreachable (or this throws under SLUICE_REQUIRE_SERVICES=1); otherwise a pool and a fresh
 * database of this file's own, dropped when the file's tests end.
 */
export async function mysqlForFile(): Promise<
  | { skip: string; pool?: undefined; database?: undefined }
  | { skip?: undefined; pool: Pool; database: string }
> {
  const url = new URL(mysqlUri);
  const skip = await serviceGate({ ...mysql, host: url.hostname, port: Number(url.port || 3306) });
  if (skip !== undefined) return { skip };
  const database = `sluice_test_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const admin = createPool({ uri: mysqlUri, connectionLimit: 1 });
  await admin.query(`CREATE DATABASE ${database}`);
  await admin.end();
  const pool = createPool({ uri: mysqlUri, database, connectionLimit: 4 });
  after(async () => {
    await pool.query(`DROP DATABASE ${database}`);
    await pool.end();
  });
  return { pool, database };
}

/** The error a promise rejects with (and the test fails if it resolves). */
export async function failure(promise: Promise<unknown>): Promise<unknown> {
  let error: unknown;
  await assert.rejects(
    promise.catch((e: unknown) => {
      error = e;
      throw e;
    }),
  );
  return error;
}

/** A sink entry. */
export const entry = <V>(id: string, key: string, value: V, version: number): SinkEntry<V> => ({
  id,
  key,
  value,
  version,
});

/** A uri of the test server with `database` as its database. */
export function databaseUri(database: string): string {
  const url = new URL(mysqlUri);
  url.pathname = `/${database}`;
  return url.toString();
}
