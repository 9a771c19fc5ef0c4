import neostandard from 'neostandard'

export default [
  ...neostandard({ ts: true, ignores: ['**/dist/**', '**/node_modules/**', '.data/**', '**/.tap/**', 'test-artifacts/**', 'bench/results/**'] }),
  {
    rules: {
      // TypeBox idiom: a schema constant and its static type share one name.
      '@typescript-eslint/no-redeclare': 'off'
    }
  }
]
