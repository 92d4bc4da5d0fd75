/**
 * Gates tests on the servers they need. Without SLUICE_REQUIRE_SERVICES, a test whose server
 * is unreachable is skipped with one line saying which server and how to start it; with
 * SLUICE_REQUIRE_SERVICES=1 (as CI runs) it fails instead, so a missing server cannot pass
 * as green.
 */
import { connect } from 'node:net';

export interface Service {
  readonly name: string;
  readonly port: number;
  readonly host?: string;
  /** How to start it, shown when it is unreachable. */
  readonly start: string;
}

export const postgres: Service = {
  name: 'PostgreSQL',
  port: 5432,
  start: 'bash scripts/ci-services.sh',
};

export const mysql: Service = {
  name: 'MySQL/MariaDB',
  port: 3306,
  start: 'bash scripts/ci-services.sh',
};

export const redis: Service = {
  name: 'Redis',
  port: 6379,
  start: 'bash scripts/ci-services.sh',
};

export function reachable(service: Service, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: service.host ?? '127.0.0.1', port: service.port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * What a test that needs `service` should do: `undefined` to run, or a skip message.
 * Throws when the service is unreachable and `require` is set.
 */
export async function serviceGate(
  service: Service,
  require = process.env['SLUICE_REQUIRE_SERVICES'] === '1',
): Promise<string | undefined> {
  if (await reachable(service)) return undefined;
  const where = `${service.host ?? '127.0.0.1'}:${service.port}`;
  if (require) {
    throw new Error(
      `${service.name} is not reachable on ${where} and SLUICE_REQUIRE_SERVICES=1; start it with: ${service.start}`,
    );
  }
  return `${service.name} is not reachable on ${where}; start it with: ${service.start}`;
}
