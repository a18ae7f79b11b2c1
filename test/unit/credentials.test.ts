import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  configKeyHost,
  dockerConfigPath,
  hasEnvPassword,
  resolveCredentials,
  runHelperProcess,
} from '../../src/auth/credentials.js';

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

describe('credential edges (each case pins one branch the mutation run found unpinned)', () => {
  it('the docker-registry-util pair is read, and hasEnvPassword sees any pair password', async () => {
    expect(await resolveCredentials('r.example', { env: { REGISTRY_USER: 'u3', REGISTRY_PASSWORD: 'p3' } })).toEqual({
      username: 'u3',
      password: 'p3',
      source: 'environment REGISTRY_USER/REGISTRY_PASSWORD',
    });
    expect(hasEnvPassword({ REGISTRY_PASSWORD: 'p' })).toBe(true);
    expect(hasEnvPassword({ KRILL_PASSWORD: 'p' })).toBe(true);
    expect(hasEnvPassword({ KRILL_USERNAME: 'u', KRILL_PASSWORD: '' })).toBe(false);
  });

  it('a password without a username is a usage error, as the reverse', async () => {
    await expect(resolveCredentials('r.example', { password: 'p', env: {} })).rejects.toThrow(/must be given together/);
  });

  it('the default docker config is ~/.docker/config.json; DOCKER_CONFIG and the directory option move it', () => {
    expect(dockerConfigPath({})).toBe(join(homedir(), '.docker', 'config.json'));
    expect(dockerConfigPath({ DOCKER_CONFIG: '/d' })).toBe('/d/config.json');
    expect(dockerConfigPath({ DOCKER_CONFIG: '/d' }, '/o')).toBe('/o/config.json');
  });

  it('a config.json that is a directory is no configuration; one under a file is kept as an error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'krill-docker-'));
    mkdirSync(join(dir, 'config.json'));
    expect(await resolveCredentials('r.example', { env: { DOCKER_CONFIG: dir } })).toBeUndefined();
    writeFileSync(join(dir, 'file'), '');
    const path = join(dir, 'file', 'config.json');
    const creds = await resolveCredentials('r.example', { env: { DOCKER_CONFIG: join(dir, 'file') } });
    expect(creds).toMatchObject({ username: '', password: '', source: `docker config ${path}` });
    expect(creds?.unusable?.message).toMatch(new RegExp(`^cannot read docker config ${path}: ENOTDIR`));
    expect((creds?.unusable?.cause as NodeJS.ErrnoException).code).toBe('ENOTDIR');
  });

  it('broken JSON keeps the parse error as the cause, under the config source', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'krill-docker-'));
    writeFileSync(join(dir, 'config.json'), '{');
    const creds = await resolveCredentials('r.example', { env: { DOCKER_CONFIG: dir } });
    expect(creds?.source).toBe(`docker config ${join(dir, 'config.json')}`);
    expect(creds?.unusable?.cause).toBeInstanceOf(SyntaxError);
  });

  it('unbracketed IPv6 keys: the port after the address, lower case; names stay names', () => {
    expect(configKeyHost('FE80::1:5000')).toBe('[fe80::1]:5000');
    expect(configKeyHost('https://FE80::1:5000/v2/')).toBe('[fe80::1]:5000');
    expect(configKeyHost('[::1]')).toBe('[::1]');
    expect(configKeyHost('r.example')).toBe('r.example');
    expect(configKeyHost('R.example:443/path/more')).toBe('r.example:443');
    // A port has at most five digits: anything longer is not an IPv6 address with a port.
    expect(configKeyHost('fe80::1:123456')).toBe('fe80::1:123456');
  });
});

describe('credential helper edges (a real helper program on PATH)', () => {
  function withHelper(script: string, config: object) {
    const dir = mkdtempSync(join(tmpdir(), 'krill-helper-'));
    writeFileSync(join(dir, 'docker-credential-test'), `#!/bin/sh\n${script}\n`, { mode: 0o755 });
    return { PATH: `${dir}:/usr/bin:/bin`, DOCKER_CONFIG: configDir(config) };
  }

  it('"credentials not found" on stderr is no credentials too', async () => {
    const env = withHelper('echo "credentials not found" >&2; exit 1', { credsStore: 'test' });
    expect(await resolveCredentials('r.example', { env })).toBeUndefined();
  });

  it('a helper for another host is not asked', async () => {
    const env = withHelper('exit 7', {
      credHelpers: { 'other.example': 'test' },
      auths: { 'r.example': { auth: b64('a:b') } },
    });
    expect(await resolveCredentials('r.example', { env })).toMatchObject({ username: 'a', password: 'b' });
  });

  it('an answer without Username is a password with an empty user, from the helper', async () => {
    const env = withHelper('read url; printf \'{"Secret":"pw"}\'', { credsStore: 'test' });
    expect(await resolveCredentials('r.example', { env })).toEqual({
      username: '',
      password: 'pw',
      source: 'credential helper test',
    });
  });

  it('a helper answering garbage keeps the parse error as the cause; a missing helper names the errno', async () => {
    const garbage = withHelper('echo "<html>"', { credsStore: 'test' });
    const error = (await resolveCredentials('r.example', { env: garbage }).catch((e: unknown) => e)) as Error;
    expect(error.cause).toBeInstanceOf(SyntaxError);
    const missing = (await resolveCredentials('r.example', {
      env: { DOCKER_CONFIG: configDir({ credsStore: 'absent' }), PATH: '/nonexistent' },
    }).catch((e: unknown) => e)) as Error;
    expect(missing.message).toBe(
      'credential helper docker-credential-absent could not be run (ENOENT): install it or remove it from docker config.json',
    );
    expect((missing.cause as NodeJS.ErrnoException).code).toBe('ENOENT');
  });

  it('a helper that exits without reading a large input is its exit code, not a crash (EPIPE)', async () => {
    const { PATH } = withHelper('exit 4', {});
    const result = await runHelperProcess('test', 'store', 'x'.repeat(4 << 20), { PATH });
    expect(result).toEqual({ code: 4, stdout: '', stderr: '' });
  });

  it('the action is the first argument', async () => {
    const { PATH } = withHelper('echo "$1"', {});
    expect((await runHelperProcess('test', 'erase', 'r.example', { PATH })).stdout).toBe('erase\n');
  });
});
