import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';
import type { TransformCallback } from 'node:stream';
import { InvalidResponseError } from '../errors.js';

/** Passes bytes through while hashing them; fails the stream when the digest does not match. */
export class DigestCheck extends Transform {
  readonly #hash: ReturnType<typeof createHash>;
  #bytes = 0;

  readonly #expected: string;
  readonly #onBytes: (n: number) => void;

  constructor(expected: string, onBytes: (n: number) => void) {
    super();
    this.#expected = expected;
    this.#onBytes = onBytes;
    // Descriptors are validated (sha256 or sha512): every blob is verified in its own algorithm.
    this.#hash = createHash(expected.startsWith('sha512:') ? 'sha512' : 'sha256');
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#hash.update(chunk);
    this.#bytes += chunk.length;
    this.#onBytes(chunk.length);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    const actual = `${this.#expected.slice(0, this.#expected.indexOf(':'))}:${this.#hash.digest('hex')}`;
    if (actual !== this.#expected) {
      callback(
        new InvalidResponseError(
          `blob ${this.#expected} arrived with digest ${actual} (${this.#bytes} bytes): the source registry served corrupted data`,
        ),
      );
      return;
    }
    callback();
  }
}
