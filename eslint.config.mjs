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
];
