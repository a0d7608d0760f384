// Lint rules, including the layering rules of CONVENTIONS.md enforced per folder.
import tseslint from 'typescript-eslint';

const io = ['node:fs', 'node:fs/promises', 'fs', 'node:net', 'node:http', 'node:child_process', 'node:worker_threads'];
const kubeClient = { name: '@kubernetes/client-node', message: 'Only src/kube/ imports the Kubernetes client.' };
const koffi = { name: 'koffi', message: 'Only src/nvml/koffi-*.ts imports koffi.' };

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', 'bin/**', 'clients/**', 'test/.build/**', 'out/**', 'eslint.config.js', '**/*.cjs'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-restricted-imports': ['error', { paths: [kubeClient, koffi] }],
    },
  },
  {
    // A file past 400 lines or a function past 120 usually holds two concepts (CONVENTIONS.md).
    files: ['src/**/*.ts'],
    rules: {
      'max-lines': ['error', { max: 400 }],
      'max-lines-per-function': ['error', { max: 120 }],
    },
  },
  {
    files: ['src/planner/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [kubeClient, koffi, ...io.map((name) => ({ name, message: 'The planner is pure: no I/O.' })), { name: 'winston', message: 'The planner never logs.' }],
          patterns: [{ group: ['**/kube/**', '**/nvml/**', '**/controller/**', '**/agent/**', '**/sim/**', '**/cli/**'], message: 'The planner depends only on src/api.' }],
        },
      ],
    },
  },
  {
    files: ['src/api/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { paths: [kubeClient, koffi], patterns: [{ group: ['**/planner/**', '**/kube/**', '**/nvml/**', '**/controller/**', '**/agent/**', '**/sim/**', '**/cli/**'], message: 'src/api is the bottom layer.' }] }],
    },
  },
  {
    files: ['src/controller/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { paths: [kubeClient, koffi], patterns: [{ group: ['**/nvml/**', '**/agent/**'], message: 'The controller never touches GPUs.' }] }],
    },
  },
  {
    files: ['src/kube/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { paths: [koffi] }] },
  },
  {
    files: ['src/nvml/koffi-*.ts'],
    rules: { 'no-restricted-imports': ['error', { paths: [kubeClient] }] },
  },
  {
    // The simulator talks to its cluster through src/kube, except for the calls only a kubelet makes.
    files: ['src/sim/**/*.ts'],
    ignores: ['src/sim/kubelet-api.ts'],
    rules: { 'no-restricted-imports': ['error', { paths: [{ ...kubeClient, message: 'Only src/kube/ and src/sim/kubelet-api.ts import the Kubernetes client.' }, koffi] }] },
  },
  {
    files: ['src/cli/**/*.ts', 'test/**/*.ts', 'bench/**/*.ts', 'src/sim/kubelet-api.ts'],
    rules: { 'no-restricted-imports': 'off' },
  },
);
