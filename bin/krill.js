#!/usr/bin/env node
// Thin shim: all logic lives in the compiled CLI so `npm link` and `./bin/krill.js` behave the same.
import { main } from '../dist/cli/main.js';

await main(process.argv.slice(2));
