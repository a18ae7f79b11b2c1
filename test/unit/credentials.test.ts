import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configKeyHost, resolveCredentials } from '../../src/auth/credentials.js';

function configDir(config: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), 'krill-docker-'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  return dir;
}
const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('resolveCredentials precedence', () => {
  const dockerDir = configDir({
    auths: {
      'reg.example.com': { auth: b64('cfg-user:cfg-pw') },
      'https://index.docker.io/v1/': { auth: b64('hub:hubpw') },
    },
  });
  const env = { DOCKER_CONFIG: dockerDir, KRILL_USERNAME: 'env-user', KRILL_PASSWORD: 'env-pw' };

  it('flags beat the environment', async () => {
    expect(await resolveCredentials('reg.example.com', { username: 'flag', password: 'fpw', env })).toMatchObject({
      username: 'flag',
      password: 'fpw',
      source: 'command-line flags',
    });
  });

  it('the environment beats docker config, in the documented order of variable pairs', async () => {
    expect(await resolveCredentials('reg.example.com', { env })).toMatchObject({
      username: 'env-user',
      source: 'environment KRILL_USERNAME/KRILL_PASSWORD',
    });
    expect(
      await resolveCredentials('reg.example.com', {
        env: {
          DOCKER_CONFIG: dockerDir,
          REGISTRY_USER: 'u3',
          REGISTRY_PASSWORD: 'p3',
          REGISTRY_CLI_USERNAME: 'u2',
          REGISTRY_CLI_PASSWORD: 'p2',
        },
      }),
    ).toMatchObject({ username: 'u2' });
    // Half a pair is not a credential.
    expect(
      await resolveCredentials('reg.example.com', { env: { DOCKER_CONFIG: dockerDir, KRILL_USERNAME: 'only-user' } }),
    ).toMatchObject({ username: 'cfg-user' });
  });

  it('docker config auths match by host, Docker Hub under its v1 URL', async () => {
    expect(await resolveCredentials('reg.example.com', { env: { DOCKER_CONFIG: dockerDir } })).toMatchObject({
      username: 'cfg-user',
      password: 'cfg-pw',
    });
    expect(await resolveCredentials('docker.io', { env: { DOCKER_CONFIG: dockerDir } })).toMatchObject({
      username: 'hub',
    });
    expect(await resolveCredentials('other.example.com', { env: { DOCKER_CONFIG: dockerDir } })).toBeUndefined();
  });

  it('no config file means anonymous; a broken one is kept as an error for when credentials are needed', async () => {
    expect(await resolveCredentials('reg.example.com', { env: { DOCKER_CONFIG: '/nonexistent' } })).toBeUndefined();
    const broken = mkdtempSync(join(tmpdir(), 'krill-docker-'));
    writeFileSync(join(broken, 'config.json'), '{not json');
    const creds = await resolveCredentials('reg.example.com', { env: { DOCKER_CONFIG: broken } });
    expect(creds?.unusable?.message).toMatch(/is not valid JSON/);
  });

  it('a username without password is a usage error', async () => {
    await expect(resolveCredentials('reg.example.com', { username: 'u', env: {} })).rejects.toThrow(
      /must be given together/,
    );
  });

  it('a missing credential helper names the program', async () => {
    const dir = configDir({ credHelpers: { 'reg.example.com': 'nonexistent-helper' } });
    await expect(
      resolveCredentials('reg.example.com', { env: { DOCKER_CONFIG: dir, PATH: '/nonexistent' } }),
    ).rejects.toThrow(/docker-credential-nonexistent-helper could not be run/);
  });
});

describe('docker config keys for IPv6 registries', () => {
  it('a key written without brackets matches the bracketed host, as docker ConvertToHostname', async () => {
    const dockerDir = configDir({ auths: { 'https://::1:6555/v2/': { auth: b64('v6:pw6') } } });
    expect(await resolveCredentials('[::1]:6555', { env: { DOCKER_CONFIG: dockerDir } })).toMatchObject({
      username: 'v6',
      password: 'pw6',
    });
    expect(configKeyHost('[::1]:6555')).toBe('[::1]:6555');
    expect(configKeyHost('fe80::1')).toBe('[fe80::1]');
    expect(configKeyHost('reg.example.com:5000')).toBe('reg.example.com:5000');
  });
});
