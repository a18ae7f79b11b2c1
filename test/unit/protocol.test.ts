import { describe, expect, it } from 'vitest';
import { parseChallenges } from '../../src/auth/challenge.js';
import { parseRegistryErrors } from '../../src/errors.js';
import { nextLink } from '../../src/http/link.js';
import { parseRetryAfter } from '../../src/http/classify.js';
import { redactUrl } from '../../src/http/redact.js';

describe('parseChallenges', () => {
  it('parses Docker Hub bearer challenges with quoted commas', () => {
    expect(
      parseChallenges(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull,push"',
      ),
    ).toEqual([
      {
        scheme: 'bearer',
        params: {
          realm: 'https://auth.docker.io/token',
          service: 'registry.docker.io',
          scope: 'repository:library/alpine:pull,push',
        },
      },
    ]);
  });

  it('parses GitLab JWT realm and insufficient_scope errors', () => {
    const [c] = parseChallenges(
      'Bearer realm="https://gitlab.example.com/jwt/auth",service="container_registry",scope="repository:g/p:delete",error="insufficient_scope"',
    );
    expect(c!.params).toMatchObject({
      realm: 'https://gitlab.example.com/jwt/auth',
      service: 'container_registry',
      error: 'insufficient_scope',
    });
  });

  it('parses basic and several challenges, unquoted values and escapes', () => {
    expect(parseChallenges('Basic realm="Registry Realm"')).toEqual([
      { scheme: 'basic', params: { realm: 'Registry Realm' } },
    ]);
    expect(parseChallenges('Basic realm=plain, Bearer realm="x\\"y", service=s')).toEqual([
      { scheme: 'basic', params: { realm: 'plain' } },
      { scheme: 'bearer', params: { realm: 'x"y', service: 's' } },
    ]);
    expect(parseChallenges('')).toEqual([]);
  });
});

describe('nextLink', () => {
  const current = new URL('https://reg.example.com/v2/_catalog?n=2');
  it('resolves relative and absolute next links', () => {
    expect(nextLink('</v2/_catalog?last=b&n=2>; rel="next"', current)?.href).toBe(
      'https://reg.example.com/v2/_catalog?last=b&n=2',
    );
    expect(nextLink('<https://reg.example.com/v2/_catalog?last=c>; rel=next', current)?.href).toBe(
      'https://reg.example.com/v2/_catalog?last=c',
    );
    expect(nextLink('</a>; rel="prev", </b>; rel="next"', current)?.pathname).toBe('/b');
    expect(nextLink(undefined, current)).toBeUndefined();
    expect(nextLink('</a>; rel="prev"', current)).toBeUndefined();
    expect(nextLink('</a>; rel="prev next"', current)?.pathname).toBe('/a');
  });

  it('does not follow a link whose rel quote is never closed', () => {
    expect(nextLink('</v2/_catalog?last=b>; rel="next', current)).toBeUndefined();
    expect(nextLink('</v2/_catalog?last=b>; rel=next"', current)).toBeUndefined();
  });

  it('refuses links to another host or scheme', () => {
    expect(() => nextLink('<https://evil.example.com/v2/_catalog?last=b>; rel="next"', current)).toThrow(
      /refusing to follow/,
    );
    expect(() => nextLink('<http://reg.example.com/v2/_catalog?last=b>; rel="next"', current)).toThrow(
      /refusing to follow/,
    );
  });
});

describe('transport helpers', () => {
  it('parses Retry-After as seconds or a date', () => {
    expect(parseRetryAfter('3')).toBe(3000);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:10 GMT', Date.parse('Wed, 21 Oct 2015 07:28:00 GMT'))).toBe(10_000);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:10 UTC', Date.parse('Wed, 21 Oct 2015 07:28:00 GMT'))).toBe(10_000);
    expect(parseRetryAfter('Wednesday, 21-Oct-15 07:28:10 UTC', Date.parse('Wed, 21 Oct 2015 07:28:00 GMT'))).toBe(
      10_000,
    );
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(undefined)).toBeUndefined();
  });

  it.each([
    ['S3', 'X-Amz-Credential=AKIA1&X-Amz-Signature=s1&X-Amz-Security-Token=t1&x-amz-date=d'],
    ['GCS', 'X-Goog-Credential=c&X-Goog-Signature=s2'],
    ['Azure SAS', 'sv=2021&se=2026&sp=r&sr=b&st=1&si=p&spr=https&sig=s3&skoid=o&sktid=t&skt=1&ske=2&sks=b&skv=v'],
    ['CloudFront', 'Signature=s4&Key-Pair-Id=k&Policy=p&Expires=1'],
    ['tokens', 'token=a&access_token=b&refresh_token=c&code=d&auth=e&secret=f&credential=g&password=h'],
  ])('a signed %s URL keeps no secret parameter', (_, query) => {
    const out = redactUrl(new URL(`https://blobs.example.com/b?${query}&keep=me`));
    const params = new URL(out).searchParams;
    expect([...params.entries()].filter(([k, v]) => k !== 'keep' && v !== 'REDACTED')).toEqual([]);
    expect(params.get('keep')).toBe('me'); // only secrets go
    expect(redactUrl(new URL('https://r.example/v2/x/blobs/sha256:1?sigma=1&series=2'))).toBe(
      'https://r.example/v2/x/blobs/sha256:1?sigma=1&series=2', // whole-name matches only for SAS fields
    );
    // The pagination cursor ends like a SAS field (`st`) and stays readable in --verbose logs.
    expect(redactUrl(new URL('https://r.example/v2/x/tags/list?n=100&last=v9'))).toBe(
      'https://r.example/v2/x/tags/list?n=100&last=v9',
    );
  });

  it('redacts secrets from logged URLs', () => {
    expect(redactUrl(new URL('https://u:p@auth.example.com/token?scope=x&access_token=abc&password=p'))).toBe(
      'https://auth.example.com/token?scope=x&access_token=REDACTED&password=REDACTED',
    );
  });

  it('parses registry error bodies and tolerates non-JSON ones', () => {
    expect(
      parseRegistryErrors(
        '{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry","detail":{"name":"x"}}]}',
      ),
    ).toEqual([{ code: 'NAME_UNKNOWN', message: 'repository name not known to registry', detail: { name: 'x' } }]);
    expect(parseRegistryErrors('<html>502 Bad Gateway</html>')).toEqual([]);
    expect(parseRegistryErrors('Too Many Requests')).toEqual([]);
  });
});
