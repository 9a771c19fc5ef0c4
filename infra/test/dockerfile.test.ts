// The Dockerfile, read by a Dockerfile parser and then replayed without Docker: its `pnpm deploy` steps
// are run into temporary folders and each target's CMD is started there, as the container would.
import t from 'tap'
import { execFile, spawn } from 'node:child_process'
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { once } from 'node:events'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { setTimeout as delay } from 'node:timers/promises'
import type { Copy, Instruction } from 'dockerfile-ast'
import { IngestEnv } from '../../services/webhook-ingest/dist/config.js'
import { GatewayEnv } from '../../services/status-gateway/dist/config.js'
import { TEST_DATABASE_URL, TEST_REDIS_URL, TEST_SECRETS, freePort, useTestPrefix, useTestSchema } from '../../packages/service-kit/dist/testing.js'
import { parseDockerfile, repoRoot } from './helper.ts'

const run = promisify(execFile)

interface Stage { name: string, from: string, instructions: Instruction[] }

const dockerfile = parseDockerfile()
const argDefaults = new Map<string, string>()
const stages: Stage[] = []
for (const instruction of dockerfile.getInstructions()) {
  const keyword = instruction.getKeyword()
  const args = instruction.getArguments().map((arg) => arg.getValue())
  if (keyword === 'ARG' && stages.length === 0) {
    const [name, value] = args[0]!.split('=')
    if (value !== undefined) argDefaults.set(name!, value)
  } else if (keyword === 'FROM') {
    const asIndex = args.findIndex((arg) => arg.toUpperCase() === 'AS')
    stages.push({ name: asIndex >= 0 ? args[asIndex + 1]! : `stage-${stages.length}`, from: args[0]!, instructions: [] })
  } else {
    stages.at(-1)?.instructions.push(instruction)
  }
}
const stageNamed = (name: string) => stages.find((stage) => stage.name === name)

/** The stage itself and the stages it is built FROM, nearest first. */
function lineage (name: string): Stage[] {
  const chain: Stage[] = []
  for (let stage = stageNamed(name); stage !== undefined; stage = stageNamed(stage.from)) chain.push(stage)
  return chain
}

/** The image a stage finally starts from, with ARG defaults substituted. */
function baseImage (name: string): string {
  const root = lineage(name).at(-1)!
  return root.from.replace(/\$\{?([A-Za-z_]+)\}?/g, (_whole, arg: string) => argDefaults.get(arg) ?? '')
}

/** The last `keyword` instruction in effect for a stage (its own or inherited). */
function effective (name: string, keyword: string): Instruction | undefined {
  for (const stage of lineage(name)) {
    const found = stage.instructions.filter((instruction) => instruction.getKeyword() === keyword).at(-1)
    if (found !== undefined) return found
  }
  return undefined
}

const textOf = (instruction: Instruction | undefined) => instruction?.getArgumentsContent() ?? ''
const envOf = (name: string, variable: string) => lineage(name).flatMap((stage) => stage.instructions)
  .filter((instruction) => instruction.getKeyword() === 'ENV')
  .map((instruction) => new RegExp(`(?:^|\\s)${variable}=(\\S+)`).exec(textOf(instruction))?.[1])
  .find((value) => value !== undefined)

/** Workspace package name → folder, from the package.json files. */
const workspaceDirs = new Map<string, string>()
for (const group of ['packages', 'services']) {
  for (const dir of readdirSync(join(repoRoot, group))) {
    const manifest = join(repoRoot, group, dir, 'package.json')
    if (existsSync(manifest)) workspaceDirs.set(JSON.parse(readFileSync(manifest, 'utf8')).name, join(repoRoot, group, dir))
  }
}

/** For a target, the `pnpm deploy` line that fills the folder it copies into /app. */
function deployOf (target: string): { packageName: string, out: string, command: string } {
  const copy = stageNamed(target)!.instructions.find((instruction) => instruction.getKeyword() === 'COPY')!
  const from = (copy as Copy).getFromFlag()?.getValue()
  if (from !== 'build') throw new Error(`${target} copies from ${from}, not the build stage`)
  const [source, destination] = copy.getArguments().map((arg) => arg.getValue())
  if (destination !== '/app') throw new Error(`${target} copies into ${destination}, not /app`)
  const run = stageNamed('build')!.instructions.find((instruction) => instruction.getKeyword() === 'RUN' &&
    textOf(instruction).includes(' deploy ') && textOf(instruction).trim().endsWith(` ${source}`))
  if (run === undefined) throw new Error(`no pnpm deploy into ${source}`)
  const packageName = /--filter[= ](\S+)/.exec(textOf(run))![1]!
  return { packageName, out: source!, command: textOf(run) }
}

const defaultPort = (schema: { properties: { PORT: object } }) => Number((schema.properties.PORT as { default?: unknown }).default)
const targets = {
  'webhook-ingest': { port: defaultPort(IngestEnv), entry: 'dist/server.js' },
  'status-gateway': { port: defaultPort(GatewayEnv), entry: 'dist/server.js' },
  migrate: { port: undefined, entry: 'dist/cli.js' }
}
type Target = keyof typeof targets

t.test('every stage is Node 24; pnpm comes from corepack at the root packageManager version', async (t) => {
  for (const stage of stages) t.match(baseImage(stage.name), /^node:24([.-]|$)/, `${stage.name} on ${baseImage(stage.name)}`)
  const pnpmStage = lineage('build').map((stage) => stage.instructions.map(textOf).join('\n')).join('\n')
  t.match(pnpmStage, /corepack enable pnpm && corepack install/)
  t.match(JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')).packageManager, /^pnpm@\d+\.\d+\.\d+$/, 'a pinned pnpm')
  const build = stageNamed('build')!.instructions.map(textOf)
  t.ok(build.some((line) => /^pnpm install --frozen-lockfile/.test(line)), 'installs from the lockfile as it is')
  t.ok(build.includes('pnpm build'), 'compiles the workspace')
})

for (const [target, expected] of Object.entries(targets) as Array<[Target, typeof targets[Target]]>) {
  t.test(`target ${target}`, async (t) => {
    t.ok(stageNamed(target), 'exists')
    const user = textOf(effective(target, 'USER')).trim()
    t.ok(user !== '' && user !== 'root' && !/^0(:|$)/.test(user), `runs as ${user}, not root`)
    t.equal(textOf(effective(target, 'WORKDIR')).trim(), '/app')
    t.notOk(lineage(target).some((stage) => stage.name === 'build' || stage.name === 'pnpm'), 'the runtime carries no build tools')
    const cmd = JSON.parse(textOf(effective(target, 'CMD'))) as string[]
    t.equal(cmd[0], 'node', 'exec-form CMD runs node')
    t.equal(cmd[1], expected.entry)
    if (expected.port !== undefined) {
      const manifest = JSON.parse(readFileSync(join(workspaceDirs.get(deployOf(target).packageName)!, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
      t.equal(manifest.scripts.start, `node ${expected.entry}`, '`pnpm start` in the service runs what the image runs')
    }
    const { packageName, command } = deployOf(target)
    t.match(command, /--prod/, 'production dependencies only')
    const packageDir = workspaceDirs.get(packageName)
    t.ok(packageDir !== undefined, `${packageName} is a workspace package`)
    t.ok(existsSync(join(packageDir!, expected.entry)), `the build produces ${packageName}/${expected.entry}`)
    const healthcheck = textOf(effective(target, 'HEALTHCHECK'))
    if (expected.port === undefined) {
      t.equal(healthcheck.trim(), 'NONE', 'a one-shot step has no health check')
    } else {
      t.equal(envOf(target, 'PORT'), String(expected.port), 'PORT is the service\'s default')
      t.equal(textOf(effective(target, 'EXPOSE')).trim(), String(expected.port), 'exposes it')
      t.match(healthcheck, /\/healthz/, 'health check on /healthz')
    }
  })
}

async function waitForReady (url: string, exited: () => boolean): Promise<number> {
  const deadline = Date.now() + 60_000
  let status = 0
  while (Date.now() < deadline && !exited()) {
    status = await fetch(url).then((response) => response.status, () => 0)
    if (status === 200) return status
    await delay(200)
  }
  return status
}

t.test('the deploy steps, replayed: each target\'s CMD runs from its deployed folder alone', async (t) => {
  const pnpmVersion = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')).packageManager as string
  const workDir = t.testdir({})
  const deployed: Partial<Record<Target, string>> = {}
  // The three deploys are independent (separate folders, one shared store): run them side by side.
  await Promise.all((Object.keys(targets) as Target[]).map((target) =>
    run('npx', ['-y', pnpmVersion, '--filter', deployOf(target).packageName, 'deploy', '--prod', '--legacy', join(workDir, target)], { cwd: repoRoot, timeout: 170_000 })))
  for (const target of Object.keys(targets) as Target[]) {
    const out = join(workDir, target)
    t.ok(existsSync(join(out, targets[target].entry)), `${target}: ${targets[target].entry} deployed`)
    const devDependencies = Object.keys(JSON.parse(readFileSync(join(out, 'package.json'), 'utf8')).devDependencies ?? {})
    t.same(devDependencies.filter((dependency) => existsSync(join(out, 'node_modules', dependency))), [], `${target}: no dev dependencies`)
    // PGlite is for the `pnpm start` launcher only (@herald/embedded-postgres): never in a production install.
    const store = existsSync(join(out, 'node_modules', '.pnpm')) ? readdirSync(join(out, 'node_modules', '.pnpm')) : []
    t.same([...store, ...readdirSync(join(out, 'node_modules'))].filter((entry) => /pglite|embedded-postgres/i.test(entry)), [], `${target}: no PGlite`)
    t.notOk(existsSync(join(out, 'node_modules', '@electric-sql')), `${target}: no @electric-sql packages`)
    deployed[target] = out
  }
  t.ok(existsSync(join(deployed.migrate!, 'drizzle', 'meta', '_journal.json')), 'migrate carries the committed migrations')

  const schema = await useTestSchema(t, 'infra_image')
  const migrateSchema = `${schema}_m`
  t.teardown(async () => {
    const { dropSchema } = await import('../../packages/db/dist/index.js')
    await dropSchema(TEST_DATABASE_URL, migrateSchema)
  })
  const migrated = await run('node', ['dist/cli.js', 'migrate'], {
    cwd: deployed.migrate!,
    env: { PATH: process.env.PATH, NODE_ENV: 'production', DATABASE_URL: TEST_DATABASE_URL, DATABASE_SCHEMA: migrateSchema },
    timeout: 60_000
  })
  t.match(migrated.stdout, /migrations applied/, 'the migrate CMD applies the migrations')

  for (const target of ['webhook-ingest', 'status-gateway'] as const) {
    const port = await freePort()
    const env = {
      PATH: process.env.PATH,
      NODE_ENV: 'production',
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      // The migrated test schema, chosen the way a DBA would: by the role's search_path.
      DATABASE_URL: `${TEST_DATABASE_URL}?options=${encodeURIComponent(`-c search_path=${schema}`)}`,
      REDIS_URL: TEST_REDIS_URL,
      HERALD_REDIS_PREFIX: useTestPrefix(t, `infra-image-${target}`),
      ...TEST_SECRETS
    }
    const child = spawn('node', [targets[target].entry], { cwd: deployed[target]!, env, stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
    let exited = false
    const exit = once(child, 'exit').then(([code, signal]) => { exited = true; return { code, signal } })
    t.teardown(() => { if (!exited) child.kill('SIGKILL') })
    t.equal(await waitForReady(`http://127.0.0.1:${port}/readyz`, () => exited), 200, `${target}: ready on /readyz ${stderr}`)
    const health = await fetch(`http://127.0.0.1:${port}/healthz`)
    t.equal(health.status, 200, `${target}: alive on /healthz`)
    child.kill('SIGTERM')
    t.same(await exit, { code: 0, signal: null }, `${target}: exits cleanly on SIGTERM`)
  }
})

t.test('the dependency cache mount is used by every pnpm step that reads the store', async (t) => {
  const text = readFileSync(join(repoRoot, 'infra/Dockerfile'), 'utf8')
  for (const line of text.split('\n').filter((l) => /^RUN .*pnpm (fetch|install|.*deploy)/.test(l))) {
    t.match(line, /--mount=type=cache,id=herald-pnpm-store,target=\/pnpm\/store/, line.slice(0, 60))
  }
})
