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

describe('credential helpers (a real helper program on PATH)', () => {
  // docker-credential-<name> protocol: the server URL on stdin for `get`, JSON on stdout.
  function helper(script: string): { dir: string; env: Record<string, string> } {
    const dir = mkdtempSync(join(tmpdir(), 'krill-helper-'));
    writeFileSync(join(dir, 'docker-credential-test'), `#!/bin/sh\n${script}\n`, { mode: 0o755 });
    return { dir, env: { PATH: `${dir}:/usr/bin:/bin` } };
  }
  const run = (script: string, config: object, host = 'reg.example.com') => {
    const { env } = helper(script);
    return resolveCredentials(host, { env: { ...env, DOCKER_CONFIG: configDir(config) } });
  };

  it('credHelpers for the host: the answer, the server URL it was asked for, a token for <token>', async () => {
    const echo =
      'read url; [ "$1" = get ] || exit 9; printf \'{"ServerURL":"%s","Username":"u-%s","Secret":"s3cr3t"}\' "$url" "$url"';
    expect(await run(echo, { credHelpers: { 'reg.example.com': 'test' } })).toEqual({
      username: 'u-reg.example.com',
      password: 's3cr3t',
      source: 'credential helper test',
    });
    // Docker Hub is asked for by its v1 URL, as docker does.
    expect((await run(echo, { credHelpers: { 'https://index.docker.io/v1/': 'test' } }, 'docker.io'))?.username).toBe(
      'u-https://index.docker.io/v1/',
    );
    const token = 'read url; printf \'{"Username":"<token>","Secret":"idtok"}\'';
    expect(await run(token, { credsStore: 'test' })).toEqual({
      username: '',
      password: '',
      identityToken: 'idtok',
      source: 'credential helper test',
    });
  });

  it('credsStore without an answer falls back to auths; "not found" is no credentials, not an error', async () => {
    const notFound = 'echo "credentials not found in native keychain"; exit 1';
    expect(await run(notFound, { credsStore: 'test', auths: { 'reg.example.com': { auth: b64('a:b') } } })).toEqual({
      username: 'a',
      password: 'b',
      source: expect.stringMatching(/^docker config .*config\.json$/),
    });
    expect(await run(notFound, { credsStore: 'test' })).toBeUndefined();
  });

  it('a failing helper or one answering garbage is an error naming it (never its output)', async () => {
    await expect(run('echo "locked: s3cr3t-out" >&2; exit 3', { credsStore: 'test' })).rejects.toThrow(
      /^credential helper docker-credential-test failed for reg\.example\.com \(exit 3\)/,
    );
    await expect(run('echo "locked" >&2; exit 3', { credsStore: 'test' })).rejects.not.toThrow(/s3cr3t/);
    await expect(run('echo "<html>s3cr3t"', { credsStore: 'test' })).rejects.toThrow(
      'credential helper docker-credential-test answered something that is not JSON',
    );
  });
});

describe('docker config entries', () => {
  it('identity tokens, username/password pairs, and an auth that is not user:password', async () => {
    const env = (auths: object) => ({ DOCKER_CONFIG: configDir({ auths }) });
    expect(await resolveCredentials('r.example', { env: env({ 'r.example': { identitytoken: 'it' } }) })).toMatchObject(
      { username: '', password: '', identityToken: 'it' },
    );
    expect(
      await resolveCredentials('r.example', { env: env({ 'r.example': { username: 'u', password: 'p' } }) }),
    ).toMatchObject({ username: 'u', password: 'p' });
    expect(await resolveCredentials('r.example', { env: env({ 'r.example': { username: 'u' } }) })).toBeUndefined();
    await expect(
      resolveCredentials('r.example', { env: env({ 'r.example': { auth: b64('no-colon') } }) }),
    ).rejects.toThrow(/the "auth" entry for r\.example is not base64 of user:password/);
  });

  it('an empty or whitespace config is no config; broken JSON is kept as an error for later', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'krill-docker-'));
    writeFileSync(join(dir, 'config.json'), ' \n');
    expect(await resolveCredentials('r.example', { env: { DOCKER_CONFIG: dir } })).toBeUndefined();
    writeFileSync(join(dir, 'config.json'), '{"auths":');
    const broken = await resolveCredentials('r.example', { env: { DOCKER_CONFIG: dir } });
    expect(broken?.unusable?.message).toMatch(/is not valid JSON: fix or move it/);
  });

  it('config keys: scheme, path and case do not matter; IPv6 with or without brackets', () => {
    expect(configKeyHost('https://Reg.Example.com/v2/')).toBe(configKeyHost('reg.example.com'));
    expect(configKeyHost('http://[::1]:6555/v1/')).toBe('[::1]:6555');
    expect(configKeyHost('https://::1:6555/v2/')).toBe('[::1]:6555');
    expect(configKeyHost('FE80::1')).toBe('[fe80::1]');
    expect(configKeyHost('registry:5000')).toBe('registry:5000');
  });
});
