// Bundles the CLI (dist/cli/main.js and what it imports, undici, commander and yaml included) into
// one file. Why: Node resolves, stats, reads and compiles each of ~300 ES and CommonJS modules
// on every start, about 100 ms of a 330 ms `krill inspect`; one file loads in a third of that.
// The library (dist/index.js) stays unbundled. Also used by scripts/build-binary.mjs (format cjs).
// Run as a script (npm run build): writes dist/cli.mjs, which bin/krill.js loads.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(import.meta.dirname, '..');

/**
 * Native or heavy optional modules stay outside, loaded from node_modules when a command needs
 * them: the Kubernetes client, the SQLite ledger's native module, pg's optional native path.
 */
export async function bundleCli({ format, outfile, external = [] }) {
  const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  await build({
    stdin: {
      // The ES bundle exports main for bin/krill.js; the binary's CommonJS bundle is the program.
      contents:
        format === 'esm'
          ? "export { main } from './dist/cli/main.js';\n"
          : "import { main } from './dist/cli/main.js';\nvoid main(process.argv.slice(2));\n",
      resolveDir: root,
      sourcefile: 'cli-entry.js',
    },
    bundle: true,
    platform: 'node',
    target: 'node20',
    format,
    outfile,
    external: ['@kubernetes/client-node', 'better-sqlite3', 'pg-native', ...external],
    // CommonJS dependencies (undici, pg) call require(): an ES bundle gets one made for it.
    ...(format === 'esm'
      ? {
          banner: {
            js: "import { createRequire } from 'node:module';\nconst require = createRequire(import.meta.url);",
          },
        }
      : {}),
    define: { __KRILL_VERSION__: JSON.stringify(version) },
    logLevel: 'warning',
    // main.ts's package.json lookup (import.meta.url) is dead code here: the version is defined above.
    logOverride: { 'empty-import-meta': 'silent' },
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  // pg stays outside the npm package's bundle: it loads only with a PostgreSQL ledger.
  await bundleCli({ format: 'esm', outfile: join(root, 'dist/cli.mjs'), external: ['pg'] });
}
