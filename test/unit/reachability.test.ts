import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { InvalidResponseError } from '../../src/errors.js';
import { isDigest } from '../../src/manifest/digest.js';
import { ReferrerIndex, followAll, reachable } from '../../src/plan/graph.js';
import { DigestCheck } from '../../src/sync/digest-check.js';

// The reachability graph deletion follows, and the digest check every copied blob streams through.
const d = (c: string) => `sha256:${c.repeat(64)}`;
const [A, B, C, S] = [d('a'), d('b'), d('c'), d('5')];

describe('reachable', () => {
  it('follows edges from every root, each digest once, through cycles', () => {
    const edges: Record<string, string[]> = { [A]: [B], [B]: [C, A], [C]: [B] };
    const visits: string[] = [];
    const seen = reachable([A], (x) => (visits.push(x), edges[x]));
    expect([...seen].sort()).toEqual([A, B, C].sort());
    expect(visits.sort()).toEqual([A, B, C].sort());
  });

  it('a digest without edges (undefined) is reached and ends there', () => {
    expect([...reachable([A, S], () => undefined)]).toEqual([S, A]);
    expect(reachable([], () => [A]).size).toBe(0);
  });
});

describe('ReferrerIndex', () => {
  it('a manifest is never its own referrer (a self-subject cannot keep itself alive)', () => {
    const index = new ReferrerIndex();
    index.add(A, A);
    expect(index.has(A)).toBe(false);
    expect(index.of(A)).toEqual([]);
  });

  it('attachment tags add their manifest under the subject; other tags add nothing', () => {
    const index = new ReferrerIndex();
    expect(index.addTag('latest', S)).toBe(false);
    expect(index.has(S)).toBe(false);
    expect(index.addTag(`sha256-${'a'.repeat(64)}.sig`, S)).toBe(true);
    expect(index.of(A)).toEqual([S]);
    expect(index.of(B)).toEqual([]);
  });

  it('followAll: children first, then referrers; either may be missing', () => {
    const index = new ReferrerIndex();
    index.add(A, S);
    const edges = followAll((x) => (x === A ? [B] : undefined), index);
    expect(edges(A)).toEqual([B, S]);
    expect(edges(C)).toEqual([]);
    expect(reachable([A], edges)).toEqual(new Set([A, B, S]));
  });
});

describe('isDigest', () => {
  it('only a whole digest: nothing before or after it', () => {
    expect(isDigest(A)).toBe(true);
    expect(isDigest(`x${A}`)).toBe(false);
    expect(isDigest(`${A}x`)).toBe(false);
    expect(isDigest(`sha512:${'f'.repeat(128)}`)).toBe(true);
  });
});

describe('DigestCheck', () => {
  const run = async (expected: string, chunks: string[]) => {
    const counted: number[] = [];
    const out: Buffer[] = [];
    const sink = new Writable({ write: (c: Buffer, _e, cb) => (out.push(c), cb()) });
    await pipeline(
      Readable.from(chunks.map((c) => Buffer.from(c))),
      new DigestCheck(expected, (n) => counted.push(n)),
      sink,
    );
    return { counted, body: Buffer.concat(out).toString() };
  };
  const sha = (algo: string, text: string) => `${algo}:${createHash(algo).update(text).digest('hex')}`;

  it('passes the bytes through and counts them, in sha256 and in sha512', async () => {
    expect(await run(sha('sha256', 'hello world'), ['hello ', 'world'])).toEqual({
      counted: [6, 5],
      body: 'hello world',
    });
    expect((await run(sha('sha512', 'hello world'), ['hello world'])).body).toBe('hello world');
  });

  it('fails the stream when the bytes are not the digest, naming both digests and the size', async () => {
    const expected = sha('sha256', 'hello world');
    const error = (await run(expected, ['hello ', 'w0rld']).catch((e: unknown) => e)) as Error;
    expect(error).toBeInstanceOf(InvalidResponseError);
    expect(error.message).toBe(
      `blob ${expected} arrived with digest ${sha('sha256', 'hello w0rld')} (11 bytes): the source registry served corrupted data`,
    );
    // A sha512 blob is checked in sha512: its sha256 would never match.
    const wrong512 = sha('sha512', 'other');
    await expect(run(wrong512, ['hello'])).rejects.toThrow(`arrived with digest ${sha('sha512', 'hello')}`);
  });
});
