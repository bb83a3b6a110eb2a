import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Part boundaries (docs/architecture.md §2): only the hub, the CLI, tests and the bench import hub/. */
const noHubImports = {
  'no-restricted-imports': ['error', { patterns: [{ regex: '(^|/)hub/', message: 'agent/, client/ and common/ never import hub/ (docs/architecture.md §2)' }] }],
};

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'client/dist/', '.data/', 'bench/results/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: { process: 'readonly', console: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', Buffer: 'readonly', URL: 'readonly' },
    },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  { files: ['agent/**', 'client/src/**', 'common/**'], rules: noHubImports },
  {
    // common/ is imported by the browser too: nothing of Node's.
    files: ['common/**', 'client/src/**'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ regex: '(^|/)hub/', message: 'never import hub/ here (docs/architecture.md §2)' }, { regex: '^node:', message: 'common/ and client/ run in the browser: no Node modules' }] }] },
  },
);
