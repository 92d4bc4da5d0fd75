import { after } from 'node:test';
import pg from 'pg';
import { postgres, serviceGate } from './services.js';

export const connectionString =
  process.env['SLUICE_TEST_POSTGRES'] ?? 'postgres://postgres@127.0.0.1:5432/test';

/**
 * For a test file that needs PostgreSQL: `skip` is a one-line reason when it is unreachable
 * (or this throws under SLUICE_REQUIRE_SERVICES=1); otherwise a pool and a fresh schema of
 * this file's own, dropped when the file's tests end.
 */
export async function postgresForFile(): Promise<
  | { skip: string; pool?: undefined; schema?: undefined }
  | { skip?: undefined; pool: pg.Pool; schema: string }
> {
  const skip = await serviceGate(postgres);
  if (skip !== undefined) return { skip };
  const pool = new pg.Pool({ connectionString, max: 4 });
  const schema = `sluice_test_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  await pool.query(`CREATE SCHEMA ${schema}`);
  after(async () => {
    await pool.query(`DROP SCHEMA ${schema} CASCADE`);
    await pool.end();
  });
  return { pool, schema };
}
