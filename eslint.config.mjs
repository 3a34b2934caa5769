// @ts-check
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/**', '.lookout/**', 'dist/**', 'models/tools/**', 'bin/**'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // The CLI loads command dependencies lazily with typed require() (tsx hooks require, not import()); method
    // definitions do the same in load(), so reading a definition (the dispatcher does) loads no model runtime.
    files: ['cli/**/*.ts', 'methods/*/index.ts', 'methods/*/method.ts'],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
