import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isolatedEnv, krill } from '../harness/cli.js';
import { seedWebRepository } from '../harness/fixtures.js';
import type { TestRegistry } from '../harness/registry.js';
import { BASIC_PASSWORD, BASIC_USER, startRegistry } from '../harness/registry.js';
import { TOKEN_USERS } from '../harness/token-issuer.js';

// Real registries: htpasswd basic auth, the registry's own auth.token with a test token issuer,
// and TLS with a CA made by openssl at test time.
let basic: TestRegistry;
let token: TestRegistry;
let tls: TestRegistry;
let mtls: TestRegistry;

beforeAll(async () => {
  [basic, token, tls, mtls] = await Promise.all([
    startRegistry({ auth: 'basic' }),
    startRegistry({ auth: 'token' }),
    startRegistry({ tls: true }),
    startRegistry({ tls: true, clientCa: true }),
  ]);
  await Promise.all([basic, token, tls, mtls].map((r) => seedWebRepository(r)));
});

afterAll(async () => {
  await Promise.all([basic, token, tls, mtls].map((r) => r?.stop()));
});

const ADMIN_PW = TOKEN_USERS.admin!.password;
const READER_PW = TOKEN_USERS.reader!.password;
const secrets = [
  ADMIN_PW,
  READER_PW,
  BASIC_PASSWORD,
  Buffer.from(`${BASIC_USER}:${BASIC_PASSWORD}`).toString('base64'),
];

function expectNoSecrets(...outputs: string[]) {
  for (const out of outputs) for (const secret of secrets) expect(out).not.toContain(secret);
}

describe('HTTP basic auth (htpasswd)', () => {
  it('works with --username and --password-stdin', async () => {
    const res = await krill(
      ['tags', `${basic.host}/apps/web`, '-u', BASIC_USER, '--password-stdin', '--no-details', '--verbose'],
      { stdin: `${BASIC_PASSWORD}\n` },
    );
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toContain('stable');
    expectNoSecrets(res.stdout, res.stderr);
  });

  it('wrong credentials: exit 1, one line naming the registry, no secret', async () => {
    const res = await krill(['tags', `${basic.host}/apps/web`, '-u', BASIC_USER, '-p', 'wrong-password-xyz']);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('--password on the command line');
    const errorLines = res.stderr
      .trim()
      .split('\n')
      .filter((l) => !l.includes('warning'));
    expect(errorLines).toEqual([
      `krill: ${basic.host} rejected the credentials from command-line flags: check the username and password`,
    ]);
    expect(res.stderr).not.toContain('wrong-password-xyz');
  });

  it('no credentials: says how to give them', async () => {
    const res = await krill(['tags', `${basic.host}/apps/web`]);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/requires a username and password: pass --username/);
  });

  it('reads credentials from the environment, flags first', async () => {
    const env = isolatedEnv({ KRILL_USERNAME: BASIC_USER, KRILL_PASSWORD: BASIC_PASSWORD });
    expect((await krill(['tags', `${basic.host}/apps/web`, '--no-details'], { env })).code).toBe(0);
    const legacy = isolatedEnv({ REGISTRY_CLI_USERNAME: BASIC_USER, REGISTRY_CLI_PASSWORD: BASIC_PASSWORD });
    expect((await krill(['tags', `${basic.host}/apps/web`, '--no-details'], { env: legacy })).code).toBe(0);
    // A flag beats a correct environment (Plankton let env win).
    const overridden = await krill(['tags', `${basic.host}/apps/web`, '-u', BASIC_USER, '--password-stdin'], {
      env,
      stdin: 'wrong',
    });
    expect(overridden.code).toBe(1);
  });

  it('reads docker config.json auths, and credential helpers before them', async () => {
    const env = isolatedEnv();
    mkdirSync(env.DOCKER_CONFIG!, { recursive: true });
    const auth = Buffer.from(`${BASIC_USER}:${BASIC_PASSWORD}`).toString('base64');
    writeFileSync(join(env.DOCKER_CONFIG!, 'config.json'), JSON.stringify({ auths: { [basic.host]: { auth } } }));
    expect((await krill(['tags', `${basic.host}/apps/web`, '--no-details'], { env })).code).toBe(0);

    // A real executable on PATH, run as docker runs helpers: `docker-credential-NAME get`, server URL on stdin.
    const bin = join(env.HOME!, 'bin');
    mkdirSync(bin);
    const log = join(env.HOME!, 'helper.log');
    writeFileSync(
      join(bin, 'docker-credential-krilltest'),
      `#!/bin/sh\nread server\necho "$1 $server" >> ${log}\nprintf '{"ServerURL":"%s","Username":"${BASIC_USER}","Secret":"${BASIC_PASSWORD}"}' "$server"\n`,
    );
    chmodSync(join(bin, 'docker-credential-krilltest'), 0o755);
    // The helper is right and auths is wrong: the helper must win.
    const wrong = Buffer.from(`${BASIC_USER}:nope`).toString('base64');
    writeFileSync(
      join(env.DOCKER_CONFIG!, 'config.json'),
      JSON.stringify({ auths: { [basic.host]: { auth: wrong } }, credHelpers: { [basic.host]: 'krilltest' } }),
    );
    const withHelper = { ...env, PATH: `${bin}:${env.PATH}` };
    const res = await krill(['tags', `${basic.host}/apps/web`, '--no-details', '--verbose'], { env: withHelper });
    expect(res.code, res.stderr).toBe(0);
    expectNoSecrets(res.stdout, res.stderr);
    const { readFileSync } = await import('node:fs');
    expect(readFileSync(log, 'utf8').trim()).toBe(`get ${basic.host}`);
  });
});

describe('bearer tokens (registry auth.token)', () => {
  it('fetches one token per scope and reuses it for every request', async () => {
    const before = token.issuer!.requests.length;
    const res = await krill(
      ['tags', `${token.host}/apps/web`, '--json', '-u', 'admin', '--password-stdin', '--verbose'],
      { stdin: ADMIN_PW },
    );
    expect(res.code, res.stderr).toBe(0);
    expect(JSON.parse(res.stdout)).toHaveLength(7);
    const issued = token.issuer!.requests.slice(before);
    expect(issued).toEqual([{ scope: ['repository:apps/web:pull'], user: 'admin' }]);
    // Only the ping is answered 401: no request pays a 401 round trip once the token is known.
    expect(res.stderr.split('\n').filter((l) => / → 401/.test(l))).toHaveLength(1);
    expectNoSecrets(res.stdout, res.stderr);
    expect(res.stderr).not.toMatch(/eyJ[\w-]{10,}/); // no JWT in the verbose log
  });

  it('a pull-only user can read but not list the catalog', async () => {
    const tags = await krill(['tags', `${token.host}/apps/web`, '--no-details', '-u', 'reader', '--password-stdin'], {
      stdin: READER_PW,
    });
    expect(tags.code, tags.stderr).toBe(0);
    const repos = await krill(['repos', token.host, '-u', 'reader', '--password-stdin'], { stdin: READER_PW });
    expect(repos.code).toBe(1);
    expect(repos.stderr.trim()).toBe(
      `krill: ${token.host} refused listing the catalog for the credentials from command-line flags: check that the account has this permission`,
    );
  });

  it('the admin lists the catalog', async () => {
    const repos = await krill(['repos', token.host, '--json', '-u', 'admin', '--password-stdin'], { stdin: ADMIN_PW });
    expect(repos.code, repos.stderr).toBe(0);
    expect(JSON.parse(repos.stdout)).toEqual(['apps/web']);
  });

  it('wrong password and anonymous access fail with one line', async () => {
    const wrong = await krill(['tags', `${token.host}/apps/web`, '-u', 'admin', '--password-stdin'], {
      stdin: 'not-it',
    });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr.trim()).toMatch(
      new RegExp(
        `^krill: the token server of ${token.host} \\(127\\.0\\.0\\.1:\\d+\\) rejected the credentials from command-line flags \\(HTTP 401\\): check the username and password$`,
      ),
    );
    const anonymous = await krill(['tags', `${token.host}/apps/web`]);
    expect(anonymous.code).toBe(1);
    expect(anonymous.stderr).toMatch(/requires authentication for pull on repository apps\/web/);
  });
});

describe('TLS', () => {
  it('verifies against --ca-cert', async () => {
    const res = await krill(['tags', `${tls.host}/apps/web`, '--no-details', '--ca-cert', tls.pki!.caCert]);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toContain('stable');
  });

  it('an untrusted certificate fails and never falls back to plain HTTP', async () => {
    const res = await krill(['tags', `${tls.host}/apps/web`, '--no-details', '--verbose']);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/TLS certificate of https:\/\/127\.0\.0\.1:\d+ was rejected .*--ca-cert/);
    expect(res.stderr).not.toContain('http://');
  });

  it('--insecure skips verification and says so', async () => {
    const res = await krill(['tags', `${tls.host}/apps/web`, '--no-details', '--insecure']);
    expect(res.code).toBe(0);
    expect(res.stderr).toMatch(/warning: --insecure/);
  });

  it('presents a client certificate', async () => {
    const without = await krill(['tags', `${mtls.host}/apps/web`, '--no-details', '--ca-cert', mtls.pki!.caCert]);
    expect(without.code).toBe(1);
    const withCert = await krill([
      'tags',
      `${mtls.host}/apps/web`,
      '--no-details',
      '--ca-cert',
      mtls.pki!.caCert,
      '--client-cert',
      mtls.pki!.clientCert,
      '--client-key',
      mtls.pki!.clientKey,
    ]);
    expect(withCert.code, withCert.stderr).toBe(0);
  });

  it('a missing --ca-cert file is a usage error', async () => {
    const res = await krill(['tags', `${tls.host}/apps/web`, '--ca-cert', '/nonexistent/ca.pem']);
    expect(res.code).toBe(2);
    expect(res.stderr.trim()).toBe('krill: cannot read --ca-cert /nonexistent/ca.pem: ENOENT; check the path');
  });

  it('https:// on a plain-HTTP registry does not fall back', async () => {
    const plain = await startRegistry();
    try {
      const res = await krill(['repos', `https://${plain.host}`]);
      expect(res.code).toBe(1);
      const auto = await krill(['repos', plain.host]);
      expect(auto.code, auto.stderr).toBe(0);
    } finally {
      await plain.stop();
    }
  });
});

describe('secrets never leak', () => {
  it('not in stdout, stderr, --verbose logs, the cache or the undo journal', async () => {
    const { readdirSync, readFileSync, statSync } = await import('node:fs');
    const env = isolatedEnv();
    const login = ['-u', 'admin', '--password-stdin', '--verbose'];
    const ref = `${token.host}/apps/web`;
    const runs = [
      await krill(['repos', token.host, ...login], { env, stdin: ADMIN_PW }),
      await krill(['tags', ref, ...login], { env, stdin: ADMIN_PW }),
      await krill(['inspect', `${ref}:3.0.0`, ...login], { env, stdin: ADMIN_PW }),
      await krill(['cleanup', ref, '--keep', '5', '--dry-run', ...login], { env, stdin: ADMIN_PW }),
      await krill(['rm', `${ref}:1.1.0`, '--yes', ...login], { env, stdin: ADMIN_PW }),
      await krill(['copy', `${ref}:2.0.0`, `${ref}-copy:2.0.0`, ...login], { env, stdin: ADMIN_PW }),
      await krill(['tags', `${basic.host}/apps/web`, '-u', BASIC_USER, '--password-stdin', '--verbose'], {
        env,
        stdin: BASIC_PASSWORD,
      }),
      await krill(['tags', `${basic.host}/apps/web`, '-u', BASIC_USER, '--password-stdin', '--verbose'], {
        env,
        stdin: 'wrong-password-leak-check',
      }),
    ];
    expect(runs.slice(0, 7).map((r) => r.code)).toEqual([0, 0, 0, 0, 0, 0, 0]);
    const tokens = token.issuer!.issued;
    expect(tokens.length).toBeGreaterThan(0);
    const files: string[] = [];
    const walk = (dir: string) => {
      for (const name of readdirSync(dir)) {
        const path = join(dir, name);
        if (statSync(path).isDirectory()) walk(path);
        else files.push(readFileSync(path, 'latin1'));
      }
    };
    walk(env.HOME!);
    expect(files.length).toBeGreaterThan(1); // the cache and the journal were written
    for (const text of [...runs.flatMap((r) => [r.stdout, r.stderr]), ...files]) {
      expectNoSecrets(text);
      expect(text).not.toContain('wrong-password-leak-check');
      for (const t of tokens) {
        expect(text).not.toContain(t);
        expect(text).not.toContain(t.split('.')[2]!); // not even the signature part
      }
    }
  });
});

describe('proxies (HTTPS_PROXY, NO_PROXY)', () => {
  it('tunnels through a CONNECT proxy with TLS end to end, and bypasses it for NO_PROXY hosts', async () => {
    const { createServer } = await import('node:http');
    const { connect } = await import('node:net');
    const tunnels: string[] = [];
    // A minimal CONNECT proxy (test code), like a corporate egress proxy.
    const proxy = createServer((_req, res) => res.writeHead(405).end());
    proxy.on('connect', (req, client, head) => {
      tunnels.push(req.url ?? '');
      const [host, port] = (req.url ?? '').split(':');
      const upstream = connect(Number(port), host, () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        upstream.write(head);
        upstream.pipe(client);
        client.pipe(upstream);
      });
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const proxyUrl = `http://proxyuser:proxy-secret@127.0.0.1:${(proxy.address() as { port: number }).port}`;
    try {
      const via = await krill(
        ['tags', `${tls.host}/apps/web`, '--no-details', '--ca-cert', tls.pki!.caCert, '--verbose'],
        { env: isolatedEnv({ HTTPS_PROXY: proxyUrl }) },
      );
      expect(via.code, via.stderr).toBe(0);
      expect(via.stdout).toContain('stable');
      expect(tunnels).toContain(tls.host);
      expect(via.stderr).not.toContain('proxy-secret');
      const before = tunnels.length;
      const direct = await krill(['tags', `${tls.host}/apps/web`, '--no-details', '--ca-cert', tls.pki!.caCert], {
        env: isolatedEnv({ HTTPS_PROXY: proxyUrl, NO_PROXY: '127.0.0.1' }),
      });
      expect(direct.code, direct.stderr).toBe(0);
      expect(tunnels.length).toBe(before);
    } finally {
      proxy.closeAllConnections();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
    }
  });
});
