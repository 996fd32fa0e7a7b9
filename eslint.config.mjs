import nx from '@nx/eslint-plugin';

export default [
  ...nx.configs['flat/base'],
  ...nx.configs['flat/typescript'],
  { ignores: ['**/dist', '**/out-tsc', '**/node_modules', '.nx', 'tmp', '**/jest.config.js', 'jest.preset.js'] },
  {
    files: ['**/*.ts'],
    rules: {
      // Module = package = schema: modules stand on base alone; only the composer sees them all.
      '@nx/enforce-module-boundaries': [
        'error',
        {
          enforceBuildableLibDependency: true,
          allow: [],
          // base's own integration tests use the test database provider, which is built on base;
          // src/ may never import it (see no-restricted-imports below), so the cycle is test-only.
          ignoredCircularDependencies: [['@strata/base', '@strata/testing']],
          depConstraints: [
            { sourceTag: 'scope:base', onlyDependOnLibsWithTags: ['scope:base', 'scope:testing'] },
            { sourceTag: 'scope:testing', onlyDependOnLibsWithTags: ['scope:base'] },
            { sourceTag: 'scope:module', onlyDependOnLibsWithTags: ['scope:base', 'scope:testing'] },
            { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['scope:base', 'scope:module', 'scope:testing'] },
            { sourceTag: 'type:tool', onlyDependOnLibsWithTags: ['scope:base', 'scope:module', 'scope:testing', 'type:app'] },
          ],
        },
      ],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // Shipped code never depends on the test provider; only test/ does.
    files: ['packages/*/src/**/*.ts', 'apps/*/src/**/*.ts'],
    ignores: ['packages/testing/src/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        { paths: [{ name: '@strata/testing', message: 'Test-only: import @strata/testing from test/ files.' }] },
      ],
    },
  },
];
