import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

// The layer rules of docs/architecture.md, enforced (like go-containerregistry's depcheck tests):
// pure modules import no I/O, nothing outside src/cli imports it, only cli/main.ts exits, only
// src/cli prints. A new violation fails here, naming the file and the import.
const ROOT = join(import.meta.dirname, '../../src');

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

const sources = files(ROOT).map((path) => ({ path: relative(ROOT, path), text: readFileSync(path, 'utf8') }));
const importsOf = (text: string) =>
  [...text.matchAll(/^\s*(?:import|export)\s[^;]*?from\s+'([^']+)'/gms)].map((m) => m[1]!);

/** Decide-layer modules: references, manifests, policies, plans, verdicts. */
const PURE = [
  /^ref\//,
  /^manifest\//,
  /^policy\//,
  /^plan\/(plan|judge|plan-file|make-plan|types|graph|limits|listing|disk-usage)\.ts$/,
  /^live\/image-list\.ts$/,
  /^ledger\/events\.ts$/,
  /^text\.ts$/,
  /^duration\.ts$/,
  /^errors\.ts$/,
  /^logger\.ts$/,
];
const IO = [
  /(^|\/)(http|registry|auth|sync|engine|cli|state)\//,
  /\/ledger\/(store|sqlite|postgres|listener|open)\.js$/,
  /^(pg|better-sqlite3)$/,
  /\/krill\.js$/,
  /\/plan\/(apply|journal|undo)\.js$/,
  /\/live\/live-set\.js$/,
  /^node:(fs|fs\/promises|child_process|http|https|net\/|dgram|tls)$/,
  /^undici$/,
];

/**
 * The layers, bottom up: a file may import from its own layer and the ones below. The planner's
 * executors (apply, journal, undo) sit in plan/ beside the pure planner but run I/O.
 */
const LAYERS: Array<[number, RegExp]> = [
  [0, /^(errors|text|duration|logger|check-options|pattern|secret|listen-on)\.ts$/],
  [1, /^(model|ref|manifest)\//],
  [1, /^ledger\/events\.ts$/],
  [2, /^policy\//],
  [3, /^plan\/(?!apply|journal|undo)/],
  [4, /^http\//],
  [5, /^auth\//],
  [6, /^(registry|state)\//],
  [6, /^ledger\/(?!events)/],
  [7, /^(live|engine|sync)\//],
  [7, /^plan\/(apply|journal|undo)\.ts$/],
  [8, /^session\.ts$/],
  [9, /^ops\//],
  [10, /^(krill|index)\.ts$/],
  [11, /^(cli|web)\//],
];
const DECIDE = 3;
const layerOf = (path: string) => LAYERS.find(([, re]) => re.test(path))?.[0] ?? -1;

describe('layer boundaries', () => {
  it('finds the sources', () => {
    expect(sources.length).toBeGreaterThan(40);
  });

  it('pure modules import no I/O', () => {
    const violations = sources
      .filter((f) => PURE.some((re) => re.test(f.path)))
      .flatMap((f) =>
        importsOf(f.text)
          .filter((spec) => IO.some((re) => re.test(spec)))
          .map((spec) => `${f.path} imports ${spec}`),
      );
    expect(violations).toEqual([]);
  });

  it('nothing outside src/cli imports src/cli', () => {
    const violations = sources
      .filter((f) => !f.path.startsWith('cli/'))
      .flatMap((f) =>
        importsOf(f.text)
          .filter((spec) => /(^|\/)cli\//.test(spec))
          .map((spec) => `${f.path} imports ${spec}`),
      );
    expect(violations).toEqual([]);
  });

  it('only cli/main.ts exits, and only src/cli prints', () => {
    expect(sources.filter((f) => /process\.exit\(/.test(f.text)).map((f) => f.path)).toEqual(['cli/main.ts']);
    expect(
      sources
        .filter((f) => !f.path.startsWith('cli/') && /console\.|process\.(stdout|stderr)\.write/.test(f.text))
        .map((f) => f.path),
    ).toEqual([]);
  });

  it('a file imports only from its own layer or below (docs/architecture.md)', () => {
    const violations = sources.flatMap((f) =>
      importsOf(f.text)
        .filter((spec) => spec.startsWith('.'))
        .map((spec) => ({ spec, target: relative(ROOT, join(ROOT, dirname(f.path), spec)).replace(/\.js$/, '.ts') }))
        .filter(({ target }) => layerOf(target) > layerOf(f.path))
        .map(
          ({ spec }) =>
            `${f.path} (layer ${layerOf(f.path)}) imports ${spec} (layer ${layerOf(spec.replace(/^(\.\.\/)+/, ''))})`,
        ),
    );
    expect(violations).toEqual([]);
    // Every file has a layer: a new folder must be placed in LAYERS before it can be used.
    expect(sources.filter((f) => layerOf(f.path) === -1).map((f) => f.path)).toEqual([]);
  });

  it('src/cli and src/web (the two clients) reach registries, engines and state only through the front door', () => {
    const violations = sources
      .filter((f) => f.path.startsWith('cli/') || f.path.startsWith('web/'))
      .flatMap((f) =>
        importsOf(f.text)
          .filter((spec) => spec.startsWith('.'))
          .map((spec) => relative(ROOT, join(ROOT, dirname(f.path), spec)).replace(/\.js$/, '.ts'))
          .filter(
            (target) =>
              // the CLI starts the web server; the web pages never reach into the CLI
              !(f.path.startsWith('cli/') && (target.startsWith('cli/') || target.startsWith('web/'))) &&
              !(f.path.startsWith('web/') && target.startsWith('web/')) &&
              layerOf(target) > DECIDE &&
              target !== 'krill.ts',
          )
          .map((target) => `${f.path} imports ${target}`),
      );
    expect(violations).toEqual([]);
  });

  it('commands take their arguments and options typed from program.ts, with no casts', () => {
    const commands = sources.filter((f) => f.path.startsWith('cli/commands/'));
    expect(commands.length).toBeGreaterThan(15);
    const violations = commands.flatMap((f) => {
      const execute = /export async function execute\(([^)]*)\)/.exec(f.text)?.[1] ?? '';
      return [
        ...(/ as unknown as /.test(f.text) ? [`${f.path} casts through unknown`] : []),
        ...(/args: unknown\[\]|Record<string, unknown>/.test(execute) ? [`${f.path} takes untyped arguments`] : []),
      ];
    });
    expect(violations).toEqual([]);
  });
});
