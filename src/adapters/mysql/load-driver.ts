/**
 * mysql2 is an optional peer dependency: `sluice/mysql` loads it only to open a pool of its
 * own (a pool you pass in needs nothing loaded), and says how to install it when it is not
 * there.
 */
import type * as mysql2 from 'mysql2/promise';
import { ConfigError } from '../../index.js';

export type Mysql2 = typeof mysql2;

/** `option` names what made the sink need the driver (`uri` or `connection`). */
export async function loadMysql2(
  option: string,
  load: () => Promise<Mysql2> = () => import('mysql2/promise'),
): Promise<Mysql2> {
  try {
    return await load();
  } catch (cause) {
    throw new ConfigError(
      option,
      'an installed mysql2 package',
      undefined,
      `mysqlSink() opens its own pool with \`${option}\`, which needs the mysql2 package: npm install mysql2 (loading it failed: ${(cause as Error).message})`,
    );
  }
}
