import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeRegistry } from '../harness/fake-registry.js';
import { rawManifest, startFakeRegistry } from '../harness/fake-registry.js';
import { Pusher, buildImage, sha256 } from '../harness/images.js';
import type { TestRegistry } from '../harness/registry.js';
import { BASIC_PASSWORD, BASIC_USER, startRegistry } from '../harness/registry.js';
import { isolatedEnv } from '../harness/cli.js';
import { runKrill } from '../harness/run-cli.js';
import { makePki } from '../harness/pki.js';

// Hostile SOURCE registries are hand-written fakes (test/harness/fake-registry.ts): no real server
// sends these answers. Destinations are the real distribution 2.8, checked through its API.
let fake: FakeRegistry;
let dst: TestRegistry;
let pusher: Pusher;

beforeAll(async () => {
  [fake, dst] = await Promise.all([startFakeRegistry(), startRegistry()]);
  pusher = new Pusher(dst);
});
afterAll(async () => {
  await Promise.all([fake?.close(), dst?.stop()]);
});

describe('names from the network are data, never paths', () => {
  it('sync skips hostile tag names with a warning and never writes outside the destination repository', async () => {
    const victim = buildImage({ layers: ['victim'] });
    await pusher.push('victim/app', victim, 'latest');
    const good = buildImage({ layers: ['good'] });
    const evil = buildImage({ layers: ['evil'] });
    fake.add('mirror/src', good, 'ok');
    fake.add('mirror/src', evil, 'evil');
    const hostile = [
      '../../../victim/app/manifests/latest',
      '%2e%2e/%2e%2e/victim/app/manifests/latest',
      '..\\..\\victim',
      'a\x1b[31m',
    ];
    fake.rawTagLists.set('mirror/src', ['ok', ...hostile]);
    const res = await runKrill(['sync', `${fake.host}/mirror/src`, '--to', `${dst.host}/m`, '--plain-http']);
    expect(res.code, res.stderr).toBe(0);
    for (const name of ['../../../victim', '%2e%2e', '..\\\\..'])
      expect(res.stderr).toContain(`${fake.host}: skipping tag "${name}`);
    expect(res.stderr).toContain('\\u001b[31m'); // escaped, never raw
    expect(res.stderr).not.toContain('\x1b');
    expect(await pusher.tags('m/mirror/src')).toEqual(['ok']);
    expect(await pusher.resolve('victim/app', 'latest')).toBe(victim.digest);
    // Nothing was ever requested for the hostile names.
    expect(fake.log.filter((r) => /victim|%2e|\\/.test(r.path))).toEqual([]);
  });

  it('an index child whose "digest" has path characters fails the copy before anything is written', async () => {
    const child = buildImage({ layers: ['child'], format: 'oci' });
    const index = rawManifest(
      {
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [{ mediaType: child.mediaType, digest: 'sha256:../../../victim/app/manifests/latest', size: 10 }],
      },
      'application/vnd.oci.image.index.v1+json',
    );
    fake.add('bad/index', index, '1.0');
    const res = await runKrill(['copy', `${fake.host}/bad/index:1.0`, `${dst.host}/copied/index:1.0`, '--plain-http']);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/is not a sha256 or sha512 digest/);
    await expect(pusher.tags('copied/index')).rejects.toThrow(/404/);
  });
});

describe('an unusable manifest is one invalid row, never a failed listing', () => {
  it('tags lists it with the reason; cleanup keeps it with the reason and plans the others', async () => {
    // LABELLED HAND-WRITTEN FAKE: no real registry stores a manifest with a negative size.
    const repo = 'apps/mixed';
    const images = Array.from({ length: 3 }, (_, i) =>
      buildImage({ created: `2024-02-0${i + 1}T00:00:00Z`, layers: [`mixed ${i}`] }),
    );
    images.forEach((image, i) => fake.add(repo, image, `v${i + 1}`));
    const badSize = rawManifest({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${'1'.repeat(64)}`, size: -5 },
      layers: [],
    });
    fake.add(repo, badSize, 'bad-size');
    fake.add(repo, rawManifest(['not', 'a', 'manifest']), 'not-a-manifest');
    const tags = await runKrill(['tags', `${fake.host}/${repo}`, '--plain-http', '--json']);
    expect(tags.code, tags.stderr).toBe(0);
    const rows = JSON.parse(tags.stdout) as Array<{ tag: string; invalid?: string }>;
    expect(rows.map((r) => r.tag).sort()).toEqual(['bad-size', 'not-a-manifest', 'v1', 'v2', 'v3']);
    expect(rows.find((r) => r.tag === 'bad-size')?.invalid).toMatch(/invalid size/);
    expect(rows.find((r) => r.tag === 'not-a-manifest')?.invalid).toMatch(/not a JSON object/);
    expect(rows.filter((r) => r.invalid !== undefined)).toHaveLength(2);
    const table = await runKrill(['tags', `${fake.host}/${repo}`, '--plain-http']);
    expect(table.stdout).toMatch(/bad-size .*invalid manifest/);

    const plan = await runKrill([
      'cleanup',
      `${fake.host}/${repo}`,
      '--plain-http',
      '--keep',
      '1',
      '--dry-run',
      '--json',
    ]);
    expect(plan.code, plan.stderr).toBe(0);
    const repoPlan = JSON.parse(plan.stdout).repositories[0];
    expect(repoPlan.delete.map((t: { tag: string }) => t.tag).sort()).toEqual(['v1', 'v2']);
    const kept = Object.fromEntries(repoPlan.keep.map((t: { tag: string; reason: string }) => [t.tag, t.reason]));
    expect(kept['bad-size']).toMatch(/kept: its manifest cannot be used \(.*invalid size/);
    expect(kept['not-a-manifest']).toMatch(/kept: its manifest cannot be used/);
  });
});

describe('no hangs', () => {
  it('--timeout bounds a whole metadata request: a server dripping bytes fails with one line', async () => {
    const drip = await startFakeRegistry();
    drip.intercept = (req, res, url) => {
      if (!url.pathname.endsWith('/tags/list')) return false;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"name":"x","tags":[');
      const timer = setInterval(() => res.write(' '), 200);
      res.on('close', () => clearInterval(timer));
      setTimeout(() => {
        clearInterval(timer);
        res.end(']}');
      }, 20_000);
      return true;
    };
    try {
      const res = await runKrill(['tags', `${drip.host}/x`, '--no-details', '--timeout', '1s']);
      expect(res.code).toBe(1);
      expect(res.stderr).toMatch(/no complete answer within 1000 ms/);
    } finally {
      await drip.close();
    }
  });

  it('a server that writes a body after its HEAD answers (connections kept after HEAD): right digests or one line, never a hang', async () => {
    const liar = await startFakeRegistry();
    const images = Array.from({ length: 12 }, (_, i) => buildImage({ layers: [`head body ${i}`] }));
    images.forEach((m, i) => liar.add('x/y', m, `t${i}`));
    liar.intercept = (req, res, url) => {
      const tag = /\/manifests\/(t\d+)$/.exec(url.pathname)?.[1];
      if (req.method !== 'HEAD' || !tag) return false;
      const m = images[Number(tag.slice(1))]!;
      // Raw bytes: the headers, then the manifest as if this were a GET, on a kept-alive connection.
      res.socket!.write(
        `HTTP/1.1 200 OK\r\nContent-Type: ${m.mediaType}\r\nDocker-Content-Digest: ${m.digest}\r\nContent-Length: ${m.bytes.length}\r\n\r\n`,
      );
      res.socket!.write(m.bytes);
      return true;
    };
    try {
      const env = isolatedEnv();
      const cold = await runKrill(['tags', `${liar.host}/x/y`, '--json'], { env });
      expect(cold.code, cold.stderr).toBe(0);
      const warm = await runKrill(['tags', `${liar.host}/x/y`, '--json', '--timeout', '5s'], { env });
      if (warm.code === 0) {
        const rows = JSON.parse(warm.stdout) as Array<{ tag: string; digest: string }>;
        expect(rows.map((r) => [r.tag, r.digest]).sort()).toEqual(images.map((m, i) => [`t${i}`, m.digest]).sort());
      } else {
        expect(warm.code).toBe(1);
        expect(warm.stderr.trim().split('\n')).toHaveLength(1);
      }
    } finally {
      await liar.close();
    }
  });

  it('tag pages that never end, each bringing 5,000 new names, stop at the item cap and at the byte cap', async () => {
    const endless = await startFakeRegistry();
    let page = 0;
    endless.intercept = (_req, res, url) => {
      if (!url.pathname.endsWith('/tags/list')) return false;
      page++;
      const tags = Array.from({ length: 5000 }, (_, i) => `p${page}-t${i}`);
      res
        .writeHead(200, {
          'content-type': 'application/json',
          link: `</v2/x/tags/list?n=5000&last=p${page}>; rel="next"`,
        })
        .end(JSON.stringify({ name: 'x', tags }));
      return true;
    };
    try {
      const items = await runKrill(['tags', `${endless.host}/x`, '--no-details'], {
        env: isolatedEnv({ KRILL_MAX_LIST_ITEMS: '20000' }),
      });
      expect(items.code).toBe(1);
      expect(items.stderr).toMatch(
        new RegExp(`^krill: ${endless.host}: the tag list passed 20000 names and still links to more pages; stopping`),
      );
      expect(page).toBe(5);
      page = 0;
      const bytes = await runKrill(['tags', `${endless.host}/x`, '--no-details'], {
        env: isolatedEnv({ KRILL_MAX_LIST_BYTES: '150000' }),
      });
      expect(bytes.code).toBe(1);
      expect(bytes.stderr).toMatch(/the tag list passed 150000 bytes and still links to more pages; stopping/);
      expect(page).toBeLessThanOrEqual(3);
      const bad = await runKrill(['tags', `${endless.host}/x`], { env: isolatedEnv({ KRILL_MAX_LIST_ITEMS: 'lots' }) });
      expect(bad.code).toBe(2);
    } finally {
      await endless.close();
    }
  });

  it('a page of tags that brings nothing new but links on stops with an error', async () => {
    const loop = await startFakeRegistry();
    let page = 0;
    loop.intercept = (_req, res, url) => {
      if (!url.pathname.endsWith('/tags/list')) return false;
      page++;
      res
        .writeHead(200, { 'content-type': 'application/json', link: `</v2/x/tags/list?n=2&last=${page}>; rel="next"` })
        .end('{"name":"x","tags":["a","b"]}');
      return true;
    };
    try {
      const res = await runKrill(['tags', `${loop.host}/x`, '--no-details']);
      expect(res.code).toBe(1);
      expect(res.stderr).toMatch(/a page of tags brought nothing new but links to another; stopping/);
      expect(page).toBe(2);
    } finally {
      await loop.close();
    }
  });
});

describe('deletes and writes count only on the spec’s success codes', () => {
  it('a DELETE answered with a redirect is a failure, never "deleted"', async () => {
    const reg = await startFakeRegistry();
    const image = buildImage({ layers: ['redirected'] });
    reg.add('r/x', image, 'old');
    reg.intercept = (req, res, url) => {
      if (req.method === 'DELETE' && url.pathname.endsWith(image.digest)) {
        res.writeHead(307, { location: `http://${reg.host}/elsewhere` }).end();
        return true;
      }
      return false;
    };
    try {
      const res = await runKrill(['rm', `${reg.host}/r/x:old`, '--yes', '--plain-http']);
      expect(res.code).toBe(1);
      expect(res.stdout.replace(/\n {2}/g, ' ')).toMatch(/failed: .*old: .*answered HTTP 307, not 202 Accepted/);
      expect(res.stdout).toMatch(/Deleted 0,/);
    } finally {
      await reg.close();
    }
  });
});

describe('a registry that goes away mid-run', () => {
  it('stops after a few connection failures in a row, with one line', async () => {
    const reg = await startFakeRegistry();
    const tags = Array.from({ length: 8 }, (_, i) => `t${i}`);
    for (const tag of tags) reg.add('r/gone', buildImage({ layers: [`gone ${tag}`] }), tag);
    const impossible = `sha256:${'0'.repeat(64)}`;
    reg.intercept = (req, _res, url) => {
      if (req.method !== 'DELETE' || url.pathname.endsWith(impossible)) return false;
      req.socket.destroy(); // the registry died: every delete loses its connection
      return true;
    };
    try {
      const res = await runKrill(['rm', ...tags.map((t) => `${reg.host}/r/gone:${t}`), '--yes', '--plain-http']);
      expect(res.code).toBe(1);
      expect(res.stderr).toMatch(/stopped after 5 connection failures in a row/);
      expect(res.stdout).not.toMatch(/^failed:/m);
    } finally {
      await reg.close();
    }
  });
});

describe('nothing from the network reaches the terminal raw', () => {
  it('a registry error message with escape sequences is printed escaped', async () => {
    const reg = await startFakeRegistry();
    reg.intercept = (_req, res, url) => {
      if (!url.pathname.endsWith('/tags/list')) return false;
      res
        .writeHead(403, { 'content-type': 'application/json' })
        .end(JSON.stringify({ errors: [{ code: 'DENIED', message: '\x1b]0;owned\x07\x1b[2J' }] }));
      return true;
    };
    try {
      const res = await runKrill(['tags', `${reg.host}/x`, '--plain-http']);
      expect(res.code).toBe(1);
      expect(res.stderr).toContain('\\x1b]0;owned\\x07\\x1b[2J');
      // eslint-disable-next-line no-control-regex -- the point of the test
      expect(res.stderr).not.toMatch(/[\x00-\x08\x0b-\x1f]/);
    } finally {
      await reg.close();
    }
  });
});

describe('artifacts never fail a listing', () => {
  it('Helm-chart and non-JSON configs are listed with the annotation date and no platform', async () => {
    const chartConfig = Buffer.from('{"name":"web","version":"0.10.0","apiVersion":"v2"}');
    const binaryConfig = Buffer.from([0, 1, 2, 255, 254]);
    const layer = Buffer.from('chart tarball');
    const artifact = (config: Buffer, configType: string, created?: string) => {
      const doc = {
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: configType, digest: sha256(config), size: config.length },
        layers: [
          {
            mediaType: 'application/vnd.cncf.helm.chart.content.v1.tar+gzip',
            digest: sha256(layer),
            size: layer.length,
          },
        ],
        ...(created ? { annotations: { 'org.opencontainers.image.created': created } } : {}),
      };
      const m = rawManifest(doc);
      m.blobs.push(
        { digest: sha256(config), bytes: config, mediaType: configType },
        { digest: sha256(layer), bytes: layer, mediaType: 'x' },
      );
      return m;
    };
    fake.add(
      'charts/web',
      artifact(chartConfig, 'application/vnd.cncf.helm.config.v1+json', '2026-01-02T03:04:05Z'),
      '0.10.0',
    );
    fake.add('charts/web', artifact(binaryConfig, 'application/octet-stream'), 'blob');
    const res = await runKrill(['tags', `${fake.host}/charts/web`, '--json', '--plain-http', '--no-cache']);
    expect(res.code, res.stderr).toBe(0);
    const rows = JSON.parse(res.stdout) as Array<{ tag: string; created: string | null; platforms: string[] }>;
    expect(rows).toEqual([
      expect.objectContaining({ tag: '0.10.0', created: '2026-01-02T03:04:05.000Z', platforms: [] }),
      expect.objectContaining({ tag: 'blob', created: null, platforms: [] }),
    ]);
  });
});

/**
 * Makes a fake registry ask for bearer tokens from its own `/token` realm, answering `body()`: a
 * client holding another registry's password would present it there (fake.log shows it).
 */
function serveBearerTokens(fake: FakeRegistry, body: () => string = () => '{"token":"anonymous"}'): void {
  // Like a real token registry: every API request without a token is challenged, not just /v2/.
  fake.intercept = (req, res, url) => {
    if (url.pathname.startsWith('/v2/') && !req.headers.authorization?.startsWith('Bearer '))
      res.writeHead(401, { 'www-authenticate': `Bearer realm="http://${fake.host}/token",service="fake"` }).end();
    else if (url.pathname === '/token') res.writeHead(200, { 'content-type': 'application/json' }).end(body());
    else return false;
    return true;
  };
}

describe('credentials go only where they belong', () => {
  it('copy: -u/--password-stdin go to the destination only, never to the source', async () => {
    const basic = await startRegistry({ auth: 'basic' });
    try {
      const image = buildImage({ layers: ['creds test'] });
      const source = await startFakeRegistry();
      source.add('pub/img', image, '1');
      // The source asks for a bearer token (anonymous tokens are fine).
      serveBearerTokens(source);
      const res = await runKrill(
        [
          'copy',
          `${source.host}/pub/img:1`,
          `${basic.host}/priv/img:1`,
          '--plain-http',
          '-u',
          BASIC_USER,
          '--password-stdin',
        ],
        { stdin: BASIC_PASSWORD },
      );
      await source.close();
      expect(res.code, res.stderr).toBe(0);
      expect(source.log.filter((r) => r.authorization !== undefined && r.authorization !== 'Bearer anonymous')).toEqual(
        [],
      );
      expect(await new Pusher(basic).resolve('priv/img', '1')).toBe(image.digest);
    } finally {
      await basic.stop();
    }
  });

  it('KRILL_USERNAME/KRILL_PASSWORD go only to the registry the environment names: not to another read, not to a copy source', async () => {
    const basic = await startRegistry({ auth: 'basic' });
    const other = await startFakeRegistry();
    try {
      const image = buildImage({ layers: ['env creds test'] });
      other.add('pub/img', image, '1');
      serveBearerTokens(other);
      const env = isolatedEnv({
        KRILL_REGISTRY: `http://${basic.host}`,
        KRILL_USERNAME: BASIC_USER,
        KRILL_PASSWORD: BASIC_PASSWORD,
      });
      const read = await runKrill(['tags', `${other.host}/pub/img`, '--plain-http'], { env });
      expect(read.code, read.stderr).toBe(0);
      // The source is named first and the destination is the named registry: the order of calls
      // must not decide where the credentials go.
      const copy = await runKrill(['copy', `${other.host}/pub/img:1`, 'priv/img:1', '--plain-http'], { env });
      expect(copy.code, copy.stderr).toBe(0);
      const tokenRequests = other.log.filter((r) => r.path.startsWith('/token'));
      expect(tokenRequests.length).toBeGreaterThan(0);
      expect(other.log.filter((r) => r.authorization !== undefined && r.authorization !== 'Bearer anonymous')).toEqual(
        [],
      );
      // The named registry did get them: the copy arrived there.
      expect(await new Pusher(basic).resolve('priv/img', '1')).toBe(image.digest);
    } finally {
      await Promise.all([basic.stop(), other.close()]);
    }
  });

  it('a token server body (a bare token, a login page) never appears in a message, also not under --verbose', async () => {
    const fake2 = await startFakeRegistry();
    const bodies = ['RAWTOKEN-s3cr3t-value', '<html><form>login for s3cr3t-page</form></html>', 'null'];
    let body = '';
    serveBearerTokens(fake2, () => body);
    try {
      for (body of bodies) {
        const res = await runKrill(['--verbose', 'tags', `${fake2.host}/x`, '--plain-http']);
        expect(res.code).toBe(1);
        expect(res.stderr).toMatch(/token server .* answered something that is not a JSON object/);
        expect(res.stderr).not.toMatch(/s3cr3t|RAWTOKEN|<html/);
      }
    } finally {
      await fake2.close();
    }
  });

  it('a source serving wrong bytes for a blob: copy fails on its own check, nothing lands at the destination (labelled fake)', async () => {
    const bad = await startFakeRegistry();
    const image = buildImage({ layers: ['the real layer'] });
    bad.add('src/img', image, 'v1');
    const layer = image.blobs.at(-1)!;
    // Same length, other bytes: only the digest tells them apart.
    bad.blobs.set(layer.digest, Buffer.alloc(layer.bytes.length, 0x41));
    try {
      const res = await runKrill(['copy', `${bad.host}/src/img:v1`, `${dst.host}/dst/corrupt:v1`, '--plain-http']);
      expect(res.code).toBe(1);
      expect(res.stderr).toContain(`blob ${layer.digest} arrived with digest sha256:`);
      expect(res.stderr).toMatch(/the source registry served corrupted data/);
      // krill's own check stopped it, not the destination's: no tag, no manifest, no such blob there.
      expect(await new Pusher(dst).resolve('dst/corrupt', 'v1')).toBeUndefined();
      expect(await new Pusher(dst).resolve('dst/corrupt', image.digest)).toBeUndefined();
      const head = await fetch(`http://${dst.host}/v2/dst/corrupt/blobs/${layer.digest}`, { method: 'HEAD' });
      expect(head.status).toBe(404);
    } finally {
      await bad.close();
    }
  });

  it('--verbose never prints a signed redirect URL, user info from --registry, or a token (labelled fake)', async () => {
    // The fake registry redirects every blob download to a "signed" URL on itself, as registries
    // backed by S3, GCS or Azure do; the signature and the credential in it are secrets.
    const fake2 = await startFakeRegistry();
    const image = buildImage({ layers: ['verbose'] });
    fake2.add('x', image, 'v1');
    fake2.intercept = (req, res, url) => {
      const blob = /^\/v2\/x\/blobs\/(sha256:[0-9a-f]{64})$/.exec(url.pathname);
      if (blob) {
        const signed = `/signed/${blob[1]}?X-Amz-Credential=AKIASECRETKEYID&X-Amz-Signature=S1GNATURE0SECRET&token=T0KENSECRET`;
        res.writeHead(307, { location: `http://${fake2.host}${signed}` }).end();
        return true;
      }
      const signed = /^\/signed\/(sha256:[0-9a-f]{64})$/.exec(url.pathname);
      if (signed) {
        res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(fake2.blobs.get(signed[1]!));
        return true;
      }
      return false;
    };
    try {
      // User info in --registry is refused, without echoing it, before any request.
      const before = fake2.log.length;
      const userinfo = await runKrill(['--verbose', '-r', `http://someone:PASSW0RDSECRET@${fake2.host}`, 'tags', 'x']);
      expect(userinfo.code).toBe(2);
      expect(userinfo.stderr).toMatch(/credentials in the URL are not accepted/);
      expect(userinfo.stderr).not.toMatch(/PASSW0RDSECRET/);
      expect(fake2.log.length).toBe(before);
      const res = await runKrill(['--verbose', '-r', `http://${fake2.host}`, 'inspect', 'x:v1', '--config']);
      expect(res.code, res.stderr).toBe(0);
      // The redirect was followed (the request log shows the signed path, redacted).
      expect(res.stderr).toMatch(/GET http:\/\/[^ ]+\/signed\/sha256:[0-9a-f]{64}\?X-Amz-Credential=REDACTED/);
      expect(res.stdout + res.stderr).not.toMatch(/AKIASECRETKEYID|S1GNATURE0SECRET|T0KENSECRET|PASSW0RDSECRET/);
    } finally {
      await fake2.close();
    }
  });

  it('an https registry whose token realm is plain http (not loopback) is refused before any token request', async () => {
    const pki = makePki(mkdtempSync(join(tmpdir(), 'krill-pki-')));
    const secure = await startFakeRegistry({ tls: { key: pki.serverKey, cert: pki.serverCert } });
    secure.intercept = (_req, res) => {
      res.writeHead(401, { 'www-authenticate': 'Bearer realm="http://203.0.113.7/token",service="evil"' }).end();
      return true;
    };
    try {
      const res = await runKrill(['tags', `${secure.host}/x`, '--ca-cert', pki.caCert, '-u', 'u', '--password-stdin'], {
        stdin: 'topsecret',
      });
      expect(res.code).toBe(1);
      expect(res.stderr).toMatch(
        /token realm on plain HTTP \(http:\/\/203\.0\.113\.7\); refusing to send credentials unencrypted/,
      );
      expect(res.stderr).not.toContain('topsecret');
    } finally {
      await secure.close();
    }
  });
});
