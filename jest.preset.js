// Shared Jest settings for every package: TypeScript through ts-jest (transpile
// only; `build` type-checks), workspace packages resolved to their sources through
// the "@strata/source" export condition, one test file at a time per worker because
// each file gets its own real database.
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  testEnvironmentOptions: { customExportConditions: ['@strata/source', 'node', 'require', 'default'] },
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.spec.json', diagnostics: false }],
  },
  moduleFileExtensions: ['ts', 'js', 'json'],
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  testTimeout: 120_000,
  maxWorkers: 2,
};
