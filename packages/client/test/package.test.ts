// The client is published: its types stand alone, and publint and arethetypeswrong find nothing wrong.
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const bin = (name: string) => fileURLToPath(new URL(`../node_modules/.bin/${name}`, import.meta.url))
const run = (command: string, args: string[]) => execFileSync(command, args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })

t.test('src/wire.ts is what @herald/contracts expands to', async (t) => {
  const out = `${t.testdir({})}/wire.ts`
  execFileSync(process.execPath, [`${root}scripts/wire-types.js`], { env: { ...process.env, HERALD_WIRE_TYPES_OUT: out } })
  const fresh = readFileSync(out, 'utf8')
  t.notMatch(fresh.replace(/^\/\/.*$/gm, ''), /typebox|@herald\/|import/, 'plain TypeScript, naming no other package')
  t.equal(readFileSync(`${root}src/wire.ts`, 'utf8'), fresh, 'rerun `pnpm --filter @herald/client wire-types` and commit src/wire.ts')
})

t.test('the package is publishable and depends on nothing unpublished', async (t) => {
  const manifest = JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as { private?: boolean, dependencies?: Record<string, string>, peerDependencies?: Record<string, string> }
  t.notOk(manifest.private, 'not private')
  const runtime = Object.keys({ ...manifest.dependencies, ...manifest.peerDependencies })
  t.same(runtime.filter((name) => name.startsWith('@herald/')), [], 'no workspace package among its dependencies')
  const [packed] = JSON.parse(run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'])) as [{ files: Array<{ path: string }> }]
  const files = packed.files.map((file) => file.path)
  t.ok(files.includes('dist/index.js') && files.includes('dist/index.d.ts') && files.includes('dist/react.d.ts'), 'ships the built entry points and their types')
  t.same(files.filter((file) => file.startsWith('src/') || file.startsWith('test/') || file.endsWith('.map')), [], 'no sources, tests or source maps')
  for (const file of files.filter((path) => path.endsWith('.js') || path.endsWith('.d.ts'))) {
    t.notMatch(readFileSync(`${root}${file}`, 'utf8'), /@herald\/contracts|typebox/, `${file} refers to no unpublished package`)
  }
})

t.test('publint --strict finds nothing', async (t) => {
  t.match(run(bin('publint'), ['--strict', '--pack', 'npm']), /All good/)
})

t.test('arethetypeswrong: the types resolve for ESM consumers (node16 and bundlers)', async (t) => {
  // An ES module package: node10 and require() from CommonJS are out of scope (the esm-only profile).
  const report = run(bin('attw'), ['--pack', '.', '--profile', 'esm-only', '--format', 'json'])
  const { analysis } = JSON.parse(report) as { analysis: { problems: unknown[] } }
  t.same(analysis.problems.filter((problem) => !/node10|node16-cjs/.test(JSON.stringify(problem))), [], 'no problem for node16 (ESM) or bundlers')
})
