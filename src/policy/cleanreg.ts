import { isMap, isScalar, parseDocument } from 'yaml';
import { UsageError } from '../errors.js';
import type { RuleInput } from './rules.js';

/**
 * cleanreg's repositories file (`cleanreg -f`), read as is so its users can switch without
 * rewriting it (README "For cleanreg users"). Two shapes exist:
 * - lines `<repository> <images to keep>` (cleanreg 0.x, `cleanreg-example.conf`);
 * - YAML `<repository>: {tag: REGEX, keepimages: N, keepsince: DATE}` (cleanreg 1.x).
 * Pure: returns one rule per repository, or undefined when the text is neither.
 */

export interface CleanregRule {
  repository: string;
  input: RuleInput;
  where: string;
}

const LINE = /^([a-z0-9][a-z0-9._/-]*)\s+(\d+)$/;

export function parseCleanregFile(text: string, path: string): CleanregRule[] | undefined {
  const lines = text.split('\n').map((l, i) => ({ text: l.trim(), line: i + 1 }));
  const content = lines.filter((l) => l.text !== '' && !l.text.startsWith('#'));
  if (content.length > 0 && content.every((l) => LINE.test(l.text))) {
    return content.map((l) => {
      const [, repository, keep] = LINE.exec(l.text)!;
      return { repository: repository!, input: { keep: Number(keep) }, where: `${path}:${l.line}` };
    });
  }
  const doc = parseDocument(text);
  const root = doc.contents;
  if (doc.errors.length > 0 || !isMap(root) || root.items.length === 0) return undefined;
  const keys = ['tag', 'keepimages', 'keepsince'];
  const isCleanreg = root.items.every(
    (pair) =>
      isMap(pair.value) && pair.value.items.every((p) => keys.includes(String(isScalar(p.key) ? p.key.value : ''))),
  );
  if (!isCleanreg) return undefined;
  return root.items.map((pair) => {
    const repository = String(isScalar(pair.key) ? pair.key.value : '');
    const value = pair.value as { get(key: string): unknown };
    const input: RuleInput = {};
    const keep = value.get('keepimages');
    const tag = value.get('tag');
    const since = value.get('keepsince');
    if (keep !== undefined) {
      if (typeof keep !== 'number' || !Number.isInteger(keep) || keep < 0)
        throw new UsageError(`${path}: ${repository}: keepimages must be a whole number`);
      input.keep = keep;
    }
    if (tag !== undefined) input.deleteRegex = [String(tag)];
    if (since !== undefined) input.olderThan = since instanceof Date ? since.toISOString() : String(since);
    return { repository, input, where: path };
  });
}
