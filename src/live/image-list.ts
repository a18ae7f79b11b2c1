import { UsageError } from '../errors.js';
import type { Reference } from '../ref/reference.js';
import { parseReference } from '../ref/reference.js';

/**
 * The live set's file format: image references, one per line or separated by whitespace — what
 * `kubectl get pods -A -o jsonpath='{..image} {..imageID}'` prints, runtime prefixes included
 * (`docker-pullable://…@sha256:…`). Pure: the caller reads the file. Lines starting with `#` are
 * comments. A bare `sha256:…` (an image ID without a repository) says nothing about a registry and is
 * skipped, as is anything that is not a reference; both are counted for a warning.
 */

export interface ImageList {
  references: Reference[];
  skipped: string[];
}

/** Bounds: a live-set file is a list of images, not a dump (a cluster of 100k pods fits). */
const MAX_TOKENS = 1_000_000;
const RUNTIME_PREFIX = /^(docker-pullable|docker|containerd|cri-o|crio):\/\//;

export function parseImageList(text: string, source: string): ImageList {
  const references: Reference[] = [];
  const skipped: string[] = [];
  const tokens = text
    .split('\n')
    .filter((line) => !line.trimStart().startsWith('#'))
    .join(' ')
    .split(/\s+/)
    .filter((t) => t !== '');
  if (tokens.length > MAX_TOKENS)
    throw new UsageError(`${source}: more than ${MAX_TOKENS} image references; pass a list of images`);
  for (const raw of tokens) {
    const token = raw.replace(RUNTIME_PREFIX, '');
    if (/^sha(256|512):/.test(token)) {
      skipped.push(raw);
      continue;
    }
    try {
      references.push(parseReference(token));
    } catch {
      skipped.push(raw);
    }
  }
  return { references, skipped };
}
