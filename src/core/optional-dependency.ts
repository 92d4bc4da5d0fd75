/**
 * Loading an optional peer dependency (`pg`, `mysql2`, `prom-client`...) when the feature
 * that needs it is used, so that installing sluice never installs them and a missing one is
 * a MissingDependencyError naming the package to install, not a bare module-not-found.
 */
import { createRequire } from 'node:module';
import { MissingDependencyError } from '../errors.js';

const require = createRequire(import.meta.url);

/**
 * `require(name)`, resolved from sluice's own folder (which finds the application's
 * node_modules). `feature` says who needs it, for the message.
 */
export function requireOptional<T>(name: string, feature: string): T {
  try {
    return require(name) as T;
  } catch (cause) {
    const code = (cause as { code?: unknown }).code;
    const missing =
      code === 'MODULE_NOT_FOUND' && String((cause as Error).message).includes(`'${name}'`);
    throw new MissingDependencyError(
      name,
      missing
        ? `${feature} needs the ${name} package: npm install ${name}`
        : `${feature} needs the ${name} package, which is installed but cannot be loaded: ${(cause as Error).message}`,
      { cause },
    );
  }
}
