#!/usr/bin/env node
// Thin shim: all logic lives in the compiled CLI so `npm link` and `./bin/krill.js` behave the same.
// dist/cli.mjs is dist/cli/main.js bundled into one file (scripts/bundle-cli.mjs): it starts faster.
import { main } from '../dist/cli.mjs';

await main(process.argv.slice(2));
