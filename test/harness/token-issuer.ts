import { execFileSync } from 'node:child_process';
import { X509Certificate, createPrivateKey, randomUUID, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

/**
 * A small token server for the registry's own `auth.token` mode (docs.docker.com/registry/spec/auth/jwt):
 * RS256 JWTs whose `x5c` header carries the certificate listed in the registry's `rootcertbundle`.
 * Users: `admin` (every action), `reader` (pull only). Anonymous requests are refused, like a private registry.
 */

export const SERVICE = 'krill-test';
export const ISSUER = 'krill-test-issuer';

export interface TokenUser {
  password: string;
  actions: string[];
  /** Like a GitLab job token: `actions` only on this project's repositories, pull elsewhere. */
  project?: string;
}

export const TOKEN_USERS: Record<string, TokenUser> = {
  admin: { password: 'admin-secret-pw', actions: ['pull', 'push', 'delete', '*'] },
  reader: { password: 'reader-secret-pw', actions: ['pull'] },
  // GitLab's CI_JOB_TOKEN, presented as the user gitlab-ci-token (docs.gitlab.com: job token permissions).
  'gitlab-ci-token': {
    password: 'glcbt-64_job-token-7Hq2',
    actions: ['pull', 'push', 'delete'],
    project: 'group/project',
  },
};

export interface TokenIssuer {
  url: string;
  certPath: string;
  /** Requests the issuer has answered, for token reuse assertions. */
  requests: Array<{ scope: string[]; user: string | undefined }>;
  /** Every token handed out, so tests can check none leaks into output or files. */
  issued: string[];
  /** Mints a token directly (for the test pusher). */
  mint(access: Array<{ type: string; name: string; actions: string[] }>, subject?: string): string;
  stop(): Promise<void>;
  expiresIn: number;
}

const b64url = (data: Buffer | string) => Buffer.from(data).toString('base64url');

export async function startTokenIssuer(dir: string, options: { expiresIn?: number } = {}): Promise<TokenIssuer> {
  const keyPath = join(dir, 'token.key');
  const certPath = join(dir, 'token.crt');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      keyPath,
      '-out',
      certPath,
      '-days',
      '2',
      '-subj',
      '/CN=krill token issuer',
    ],
    { stdio: 'pipe' },
  );
  const key = createPrivateKey(readFileSync(keyPath));
  const x5c = new X509Certificate(readFileSync(certPath)).raw.toString('base64');
  const expiresIn = options.expiresIn ?? 300;
  const requests: TokenIssuer['requests'] = [];
  const issued: string[] = [];

  const mint: TokenIssuer['mint'] = (access, subject = 'admin') => {
    const now = Math.floor(Date.now() / 1000);
    const header = b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT', x5c: [x5c] }));
    const claims = b64url(
      JSON.stringify({
        iss: ISSUER,
        sub: subject,
        aud: SERVICE,
        exp: now + expiresIn,
        nbf: now - 30,
        iat: now,
        jti: randomUUID(),
        access,
      }),
    );
    const signature = sign('sha256', Buffer.from(`${header}.${claims}`), key);
    return `${header}.${claims}.${b64url(signature)}`;
  };

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const scopes = url.searchParams.getAll('scope');
    const auth = req.headers.authorization;
    let user: string | undefined;
    if (auth?.startsWith('Basic ')) {
      const [name, password] = Buffer.from(auth.slice(6), 'base64').toString().split(':');
      if (!name || TOKEN_USERS[name]?.password !== password) {
        res.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"invalid credentials"}');
        return;
      }
      user = name;
    }
    requests.push({ scope: scopes, user });
    if (url.pathname !== '/token' || url.searchParams.get('service') !== SERVICE) {
      res.writeHead(400).end('bad request');
      return;
    }
    if (!user) {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"authentication required"}');
      return;
    }
    const access = scopes.map((scope) => {
      const [type = '', name = '', actions = ''] = scope.split(':');
      const { project, actions: granted } = TOKEN_USERS[user!]!;
      const own = project === undefined || name === project || name.startsWith(`${project}/`);
      const allowed = own ? granted : ['pull'];
      return {
        type,
        name,
        actions: actions.split(',').filter((a) => allowed.includes(a) || (a === '*' && allowed.includes('*'))),
      };
    });
    const token = mint(access, user);
    issued.push(token);
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ token, access_token: token, expires_in: expiresIn, issued_at: new Date().toISOString() }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/token`,
    certPath,
    requests,
    issued,
    mint,
    expiresIn,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
