// @ts-check
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', 'test-results/**', '.rectify/**'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // Workflow code runs in Temporal's deterministic sandbox: no I/O, no clocks of its own, no environment.
    files: ['src/workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['node:*', 'fs', 'path', 'crypto', 'http', 'https', 'net', 'child_process', 'os', 'url'], message: 'Node builtins cannot run in the workflow sandbox; do it in an activity.' },
            { group: ['@aws-sdk/*', '@slack/*', '@temporalio/client', '@temporalio/worker', '@temporalio/activity'], message: 'Workflows call AWS/Slack through activities only.', allowTypeImports: true },
            { group: ['**/activities/*', '!**/activities/index.js'], message: 'Import activity types from activities/index.js with `import type`.', allowTypeImports: true },
          ],
        },
      ],
      'no-restricted-properties': ['error', { object: 'process', property: 'env', message: 'No environment in workflows: pass values in the workflow input.' }],
      'no-restricted-globals': ['error', { name: 'process', message: 'No process in workflows.' }, { name: 'setTimeout', message: 'Use sleep() or condition() from @temporalio/workflow.' }],
    },
  },
);
