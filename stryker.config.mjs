// Mutation testing of the safety core (`npm run test:mutation`; docs/testing.md). Each file or
// range below makes a promise of the README's Safety section: a mutant that no unit test kills
// is a behaviour no test pins down.
export default {
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.mutation.config.ts' },
  checkers: ['typescript'],
  tsconfigFile: 'tsconfig.json',
  typescriptChecker: { prioritizePerformanceOverAccuracy: true },
  coverageAnalysis: 'perTest',
  incremental: true,
  incrementalFile: '.stryker/incremental.json',
  tempDirName: '.stryker/tmp',
  concurrency: 2,
  mutate: [
    'src/plan/judge.ts', // what apply may still do, given the fresh state
    'src/plan/graph.ts', // what a kept tag reaches
    'src/plan/limits.ts', // budgets
    'src/plan/listing.ts', // the listing check
    'src/policy/evaluate.ts', // retention
    'src/policy/rule-set.ts', // tag-family rules
    'src/registry/untag.ts', // the untagger
    'src/auth/credentials.ts', // credential resolution
    'src/http/call-scope.ts', // credentials bound to a verb's registry
    'src/http/redact.ts', // URL redaction
    'src/manifest/digest.ts', // digest verification
    'src/sync/digest-check.ts', // blob digest check on copy
    'src/plan/journal.ts', // journal reading
    'src/plan/undo.ts', // undo's decisions
    'src/ledger/events.ts', // notification validation and what counts as a pull
    'src/policy/usage.ts', // an image's use across its platforms
  ],
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: '.stryker/report/index.html' },
  jsonReporter: { fileName: '.stryker/report/mutation.json' },
  thresholds: { high: 90, low: 80, break: null },
};
