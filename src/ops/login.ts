import { eraseCredentials, storeCredentials } from '../auth/docker-config.js';
import { AuthError, UsageError } from '../errors.js';
import type { RegistryAddress } from '../ref/reference.js';
import { DOCKER_HUB } from '../ref/reference.js';
import type { Session } from '../session.js';

/**
 * `krill login`: checks the credentials against the registry (what `docker login` does), then
 * stores them in docker's config.json or its credential helper. Returns where they went.
 */
export async function login(session: Session, registry: string | undefined): Promise<string> {
  const address = loginAddress(session, registry);
  session.setDestination(address);
  const username = session.username;
  const password = await session.password();
  if (username === undefined || password === undefined)
    throw new UsageError(
      'krill login needs --username and a password: --password-stdin, or typed at the prompt on a terminal',
    );
  const client = await session.newClient(address, 'target', { username, password });
  try {
    await client.checkCredentials();
  } catch (cause) {
    if (!(cause instanceof AuthError)) throw cause;
    throw new AuthError(`${address.host} rejected the credentials of ${username}: check the username and password`, {
      cause,
    });
  }
  return storeCredentials(address.host, username, password, session.env);
}

/** `krill logout`: removes what `login` stored; false when nothing was stored for the registry. */
export function logout(session: Session, registry: string | undefined): Promise<boolean> {
  return eraseCredentials(loginAddress(session, registry).host, session.env);
}

function loginAddress(session: Session, registry: string | undefined): RegistryAddress {
  return registry !== undefined
    ? session.parseRegistry(registry)
    : (session.defaultRegistry() ?? { host: DOCKER_HUB, scheme: 'https' });
}
