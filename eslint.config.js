import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'data/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': ['error', { allow: ['error'] }],
    },
  },
  {
    // time comes from the injected Clock (src/clock.ts), so the whole program can run in simulated time
    files: ['src/**/*.ts'],
    ignores: ['src/clock.ts'],
    rules: {
      'no-restricted-globals': [
        'error',
        ...['setTimeout', 'setInterval', 'clearTimeout', 'clearInterval'].map((name) => ({ name, message: 'use the injected Clock (src/clock.ts)' })),
      ],
      'no-restricted-syntax': [
        'error',
        { selector: "MemberExpression[object.name='Date'][property.name='now']", message: 'use clock.now() (src/clock.ts)' },
        { selector: "NewExpression[callee.name='Date'][arguments.length=0]", message: 'use new Date(clock.now()) (src/clock.ts)' },
        {
          // BEGIN DEFERRED reads first and fails with SQLITE_BUSY at its first write when another connection (the
          // journal worker) committed meanwhile; busy_timeout cannot help it. BEGIN IMMEDIATE waits for the lock instead.
          selector: "CallExpression > CallExpression.callee[callee.property.name='transaction']",
          message: "run a better-sqlite3 transaction with .immediate(), not (): a deferred one fails with SQLITE_BUSY when another connection wrote between its first read and its first write",
        },
      ],
      'no-restricted-imports': ['error', { paths: ['timers', 'node:timers', 'timers/promises', 'node:timers/promises'].map((name) => ({ name, message: 'use the injected Clock (src/clock.ts)' })) }],
    },
  },
  { files: ['firmware-sim/**', 'bench/**', 'fuzz/**', 'demo/**', 'emulator/main.ts', 'test/**', 'src/cli.ts'], rules: { 'no-console': 'off' } },
);
