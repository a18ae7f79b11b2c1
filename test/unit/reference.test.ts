import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import {
  formatReference,
  isLoopbackHost,
  parseReference,
  parseRegistryAddress,
  parseRepositoryReference,
} from '../../src/ref/reference.js';

describe('parseReference', () => {
  const cases: Array<[string, string, Record<string, unknown>]> = [
    ['alpine', 'docker.io/library/alpine', { tag: undefined }],
    ['alpine:3.20', 'docker.io/library/alpine:3.20', { tag: '3.20' }],
    ['bitnami/redis', 'docker.io/bitnami/redis', {}],
    ['index.docker.io/library/alpine', 'docker.io/library/alpine', {}],
    ['registry-1.docker.io/library/alpine:edge', 'docker.io/library/alpine:edge', {}],
    ['localhost:5000/apps/web:1.0', 'localhost:5000/apps/web:1.0', { repository: 'apps/web' }],
    ['localhost/web', 'localhost/web', {}],
    [
      'registry.example.com/a/b/c@sha256:' + 'a'.repeat(64),
      'registry.example.com/a/b/c@sha256:' + 'a'.repeat(64),
      { digest: 'sha256:' + 'a'.repeat(64) },
    ],
    ['[::1]:5000/web:v1', '[::1]:5000/web:v1', {}],
    ['127.0.0.1:5000/a-b_c.d__e/f:t_1.2-x', '127.0.0.1:5000/a-b_c.d__e/f:t_1.2-x', {}],
  ];
  for (const [input, formatted, fields] of cases) {
    it(`parses ${input}`, () => {
      const ref = parseReference(input);
      expect(formatReference(ref)).toBe(formatted);
      for (const [key, value] of Object.entries(fields))
        expect((ref as unknown as Record<string, unknown>)[key]).toBe(value);
    });
  }

  it('resolves short references against a default registry, without library/', () => {
    const ref = parseReference('web:1', { host: 'localhost:5000', scheme: 'auto' });
    expect(formatReference(ref)).toBe('localhost:5000/web:1');
    expect(ref.registry.scheme).toBe('auto');
  });

  it('keeps an explicit host over the default registry', () => {
    expect(parseReference('other.example.com/x', { host: 'localhost:5000', scheme: 'auto' }).registry.host).toBe(
      'other.example.com',
    );
  });

  const bad: Array<[string, RegExp]> = [
    ['', /missing image reference/],
    ['Apps/web', /must be lowercase/],
    ['apps//web', /invalid repository/],
    ['apps/web:', /invalid tag ""/],
    ['apps/web:-x', /invalid tag/],
    ['apps/web:' + 'x'.repeat(129), /invalid tag/],
    ['apps/web@sha256:abc', /invalid digest/],
    ['apps/web@md5:' + 'a'.repeat(32), /invalid digest/],
    ['https://host/x', /references take no URL scheme/],
    ['-web', /invalid repository/],
  ];
  for (const [input, message] of bad) {
    it(`rejects ${JSON.stringify(input)}`, () => {
      expect(() => parseReference(input)).toThrow(UsageError);
      expect(() => parseReference(input)).toThrow(message);
    });
  }

  it('rejects a tag where a repository is expected', () => {
    expect(() => parseRepositoryReference('localhost:5000/web:1')).toThrow(/drop the :TAG/);
  });
});

describe('parseRegistryAddress', () => {
  it('maps schemes and loopback', () => {
    expect(parseRegistryAddress('localhost:5000')).toEqual({ host: 'localhost:5000', scheme: 'auto' });
    expect(parseRegistryAddress('127.0.0.1:5000')).toEqual({ host: '127.0.0.1:5000', scheme: 'auto' });
    expect(parseRegistryAddress('[::1]:5000')).toEqual({ host: '[::1]:5000', scheme: 'auto' });
    expect(parseRegistryAddress('registry.example.com')).toEqual({ host: 'registry.example.com', scheme: 'https' });
    expect(parseRegistryAddress('http://registry.example.com:5000/')).toEqual({
      host: 'registry.example.com:5000',
      scheme: 'http',
    });
    expect(parseRegistryAddress('https://localhost:5000/v2/')).toEqual({ host: 'localhost:5000', scheme: 'https' });
    expect(parseRegistryAddress('registry.example.com', { plainHttp: true })).toEqual({
      host: 'registry.example.com',
      scheme: 'http',
    });
    expect(parseRegistryAddress('INDEX.DOCKER.IO')).toEqual({ host: 'docker.io', scheme: 'https' });
  });

  it('rejects paths and garbage', () => {
    expect(() => parseRegistryAddress('host.example.com/some/path')).toThrow(/expected host\[:port\]/);
    expect(() => parseRegistryAddress('bad host')).toThrow(UsageError);
  });

  it('knows loopback hosts', () => {
    expect(['localhost', 'localhost:5000', '127.0.0.1', '127.1.2.3:80', '[::1]:5000'].every(isLoopbackHost)).toBe(true);
    expect(['10.0.0.1', 'example.com', 'localhost.example.com', '128.0.0.1'].some(isLoopbackHost)).toBe(false);
  });
});
