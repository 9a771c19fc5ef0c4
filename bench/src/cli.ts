// `pnpm bench`: starts Herald's services (and the comparison servers) as separate processes against the
// real Postgres and Redis, in a fresh schema and key prefix, runs the scenarios, writes a JSON record
// under bench/results/ and prints markdown tables. `--help` lists the flags for large runs.
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdir, writeFile } from 'node:fs/promises'
import { cpus, loadavg, totalmem } from 'node:os'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { performance } from 'node:perf_hooks'
import { createDatabase } from '@herald/db'
import { BenchEnvironment } from './environment.js'
import { HeraldDriver } from './herald-driver.js'
import { ServiceProcess, serviceEntry, stopAll } from './processes.js'
import { hotFunctions } from './profile-summary.js'
import { heapClasses } from './heap-summary.js'
import { benchChart } from './chart.js'
import { markdown, type BenchRun, type MachineInfo } from './report.js'
import { runIngest } from './scenarios/ingest.js'
import { heraldLongPollTarget, runLongPoll, seedLongPollTarget } from './scenarios/long-poll.js'
import { runSse } from './scenarios/sse.js'

const usage = `pnpm bench [-- flags]

  --scenarios <list>        which scenarios: 1 long-poll, 2 SSE, 3 ingest, 4 seed baseline (default 1,2,3,4)
  --waiters <n>             held long-polls, scenarios 1 and 4 (default 300)
  --rate <n>                callbacks per second completing them (default 150)
  --streams <n>             SSE streams, scenario 2 (default 300)
  --sse-rate <n>            registration events per second (default 150)
  --sse-events <n>          events sent (default: one per stream)
  --ramp-rate <n>           long-polls / streams opened per second (default 1000)
  --warmup <n>              waiters completed before the first memory reading (default 30)
  --ingest-seconds <n>      seconds per ingest measurement (default 3)
  --ingest-concurrency <n>  concurrent callers in scenario 3 (default 32)
  --shards <n>              HERALD_STREAM_SHARDS (default 1)
  --log-level <level>       services' LOG_LEVEL (default warn)
  --pg-pool <n>             services' PG_POOL_MAX (default: the services' own default)
  --pg-setting <name=value> a Postgres setting for the services' sessions, repeatable; an experiment, e.g.
                            synchronous_commit=off to see what the commit flush costs
  --profile                 CPU-profile the gateway and ingest while they deliver, heap-snapshot the held gateway
  --redis-maxclients <n>    raise Redis maxclients for the run and restore it after (the seed design needs
                            one connection per waiter)
  --database-url <url>      Postgres (default DATABASE_URL, else postgres://postgres@127.0.0.1:5432/test)
  --redis-url <url>         Redis (default REDIS_URL, else redis://127.0.0.1:6379)
`

const { values: flags } = parseArgs({
  options: {
    scenarios: { type: 'string', default: '1,2,3,4' },
    waiters: { type: 'string', default: '300' },
    rate: { type: 'string', default: '150' },
    streams: { type: 'string', default: '300' },
    'sse-rate': { type: 'string', default: '150' },
    'sse-events': { type: 'string' },
    'ramp-rate': { type: 'string', default: '1000' },
    warmup: { type: 'string', default: '30' },
    'ingest-seconds': { type: 'string', default: '3' },
    'ingest-concurrency': { type: 'string', default: '32' },
    shards: { type: 'string', default: '1' },
    'log-level': { type: 'string', default: 'warn' },
    'pg-pool': { type: 'string' },
    'pg-setting': { type: 'string', multiple: true, default: [] },
    profile: { type: 'boolean', default: false },
    'redis-maxclients': { type: 'string' },
    'database-url': { type: 'string', default: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test' },
    'redis-url': { type: 'string', default: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' },
    help: { type: 'boolean', default: false }
  }
})

if (flags.help) {
  process.stdout.write(usage)
  process.exit(0)
}

function count (name: keyof typeof flags): number {
  const value = Number(flags[name])
  if (!Number.isInteger(value) || value < 0) {
    process.stderr.write(`--${name} must be a whole number, got ${String(flags[name])}\n`)
    process.exit(64)
  }
  return value
}

const scenarios = new Set(String(flags.scenarios).split(',').map((s) => s.trim()))
const options = {
  waiters: count('waiters'),
  rate: count('rate'),
  streams: count('streams'),
  sseRate: count('sse-rate'),
  sseEvents: flags['sse-events'] === undefined ? count('streams') : count('sse-events'),
  rampRate: count('ramp-rate'),
  warmup: count('warmup'),
  ingestSeconds: count('ingest-seconds'),
  ingestConcurrency: count('ingest-concurrency'),
  shards: count('shards'),
  logLevel: String(flags['log-level']),
  pgPool: flags['pg-pool'] === undefined ? undefined : count('pg-pool'),
  pgSettings: flags['pg-setting'] ?? [],
  profile: flags.profile === true
}

// Every held request is a socket here and in the server: make sure this process (and the servers it
// starts, which inherit the limit) may open enough of them.
const neededFds = Math.max(options.waiters, options.streams) + options.warmup + 2048
if (process.env.HERALD_BENCH_FDS_RAISED === undefined) {
  const soft = execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim()
  if (soft !== 'unlimited' && Number(soft) < neededFds) {
    const result = spawnSync('sh', ['-c', 'ulimit -n "$(ulimit -Hn)" && exec "$0" "$@"', process.execPath, ...process.execArgv, ...process.argv.slice(1)], {
      stdio: 'inherit',
      env: { ...process.env, HERALD_BENCH_FDS_RAISED: '1' }
    })
    process.exit(result.status ?? 1)
  }
}

const resultsDir = fileURLToPath(new URL('../results/', import.meta.url))
for (const setting of options.pgSettings) {
  if (!/^[a-z_.]+=[A-Za-z0-9_.-]+$/.test(setting)) {
    process.stderr.write(`--pg-setting must look like name=value, got ${setting}\n`)
    process.exit(64)
  }
}
const environment = new BenchEnvironment({ databaseUrl: String(flags['database-url']), redisUrl: String(flags['redis-url']), postgresSettings: options.pgSettings })
const runDir = `${resultsDir}${environment.runId}/`
const observer = environment.redis()
const notes: string[] = []
let restoreMaxClients: string | undefined

async function cleanup (): Promise<void> {
  await stopAll()
  if (restoreMaxClients !== undefined) await observer.config('SET', 'maxclients', restoreMaxClients).catch(() => {})
  await environment.close().catch((err: unknown) => { process.stderr.write(`cleanup: ${String(err)}\n`) })
  observer.disconnect()
}

let interrupted = false
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    interrupted = true
    process.stderr.write(`\n${signal}: stopping the servers and removing the run's schema and keys\n`)
    cleanup().finally(() => process.exit(130))
  })
}

function say (message: string): void {
  process.stderr.write(`[bench] ${((performance.now()) / 1000).toFixed(1)}s ${message}\n`)
}

async function machine (): Promise<MachineInfo> {
  const redisInfo = await observer.info('server')
  const handle = createDatabase({ url: environment.databaseUrl, max: 1 })
  const { rows } = await handle.pool.query<{ server_version: string }>('show server_version')
  await handle.close()
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 2 ** 30 * 10) / 10,
    node: process.version,
    redis: /redis_version:(\S+)/.exec(redisInfo)?.[1] ?? 'unknown',
    postgres: rows[0]?.server_version ?? 'unknown',
    loadAverageAtStart: loadavg().map((l) => Math.round(l * 100) / 100),
    loadAverageAtEnd: []
  }
}

async function profileNamed (service: ServiceProcess, name: string, run: BenchRun): Promise<{ start: () => Promise<void>, stop: () => Promise<void> }> {
  return {
    start: async () => { if (options.profile) await service.startCpuProfile() },
    stop: async () => {
      if (!options.profile) return
      const path = await service.stopCpuProfile(`${runDir}${name}.cpuprofile`)
      const summary = await hotFunctions(path)
      run.profiles.push({ name, path: path.slice(resultsDir.length - 'results/'.length), totalMs: summary.totalMs, idlePercent: summary.idlePercent, top: summary.functions, byPackage: summary.byPackage })
    }
  }
}

async function main (): Promise<BenchRun> {
  await mkdir(runDir, { recursive: true })
  const run: BenchRun = {
    runId: environment.runId,
    startedAt: new Date().toISOString(),
    command: `pnpm bench ${process.argv.slice(2).join(' ')}`.trim(),
    options,
    machine: await machine(),
    profiles: [],
    heapSnapshots: [],
    notes
  }

  if (flags['redis-maxclients'] !== undefined) {
    const [, current] = await observer.config('GET', 'maxclients') as [string, string]
    restoreMaxClients = current
    await observer.config('SET', 'maxclients', String(count('redis-maxclients')))
    notes.push(`Redis maxclients raised from ${current} to ${count('redis-maxclients')} for the run (restored after).`)
  }

  say(`run ${environment.runId}: schema ${environment.schema}, Redis prefix ${environment.redisPrefix}`)
  await environment.prepare()
  const runTag = environment.runId.slice(-8)
  const common: Record<string, string> = { ...environment.serviceEnv(), LOG_LEVEL: options.logLevel, HERALD_STREAM_SHARDS: String(options.shards) }
  if (options.pgPool !== undefined) common.PG_POOL_MAX = String(options.pgPool)
  if (options.pgSettings.length > 0) notes.push(`Experiment: the services' Postgres sessions ran with ${options.pgSettings.join(', ')}.`)
  const ingest = await ServiceProcess.start({ name: 'webhook-ingest', entry: serviceEntry('@herald/webhook-ingest'), env: common, logPath: `${runDir}webhook-ingest.log` })
  const startGateway = async (label: string): Promise<{ gateway: ServiceProcess, instanceId: string }> => {
    const instanceId = `bench-${runTag}-${label}`
    // The load generator is one address standing for thousands of browsers: the per-client cap is off.
    const gateway = await ServiceProcess.start({ name: `status-gateway-${label}`, entry: serviceEntry('@herald/status-gateway'), env: { ...common, HERALD_INSTANCE_ID: instanceId, GATEWAY_MAX_HOLDS_PER_CLIENT: '0', GATEWAY_RATE_LIMIT_PER_MINUTE: '0' }, logPath: `${runDir}status-gateway-${label}.log` })
    return { gateway, instanceId }
  }
  const driverFor = (gateway: ServiceProcess, connections: number, writeTo = ingest): HeraldDriver => new HeraldDriver({
    ingestUrl: writeTo.url,
    gatewayUrl: gateway.url,
    mpesaToken: environment.secrets.MPESA_CALLBACK_TOKEN,
    internalSecret: environment.secrets.INTERNAL_WEBHOOK_SECRETS,
    gatewayConnections: connections,
    ingestConnections: 256
  })
  const holdTimeoutMs = 120_000

  run.longPoll = {}
  if (scenarios.has('1')) {
    say(`scenario 1: ${options.waiters} long-polls on Herald, completed at ${options.rate}/s`)
    const { gateway, instanceId } = await startGateway('longpoll')
    const driver = driverFor(gateway, options.waiters + options.warmup + 64)
    const gatewayProfile = await profileNamed(gateway, 'gateway-longpoll-completion', run)
    const ingestProfile = await profileNamed(ingest, 'ingest-longpoll-completion', run)
    run.longPoll.herald = await runLongPoll(heraldLongPollTarget(driver, gateway, ingest, runTag, instanceId), {
      waiters: options.waiters,
      rate: options.rate,
      rampRate: options.rampRate,
      warmup: options.warmup,
      holdTimeoutMs,
      redis: observer,
      onHeld: async () => {
        if (!options.profile) return
        const path = await gateway.heapSnapshot(`${runDir}gateway-held-longpolls.heapsnapshot`)
        run.heapSnapshots.push({ name: 'gateway with long-polls held', path: path.slice(resultsDir.length - 'results/'.length), ...await heapClasses(path, options.waiters) })
      },
      onCompletionStart: async () => { await gatewayProfile.start(); await ingestProfile.start() },
      onCompletionEnd: async () => { await gatewayProfile.stop(); await ingestProfile.stop() }
    })
    await driver.close()
    say('scenario 1 done; stopping its gateway')
    await gateway.stop()
  }

  if (scenarios.has('4')) {
    say(`scenario 4: ${options.waiters} long-polls on the seed design (one Redis SUBSCRIBE each), completed at ${options.rate}/s`)
    const connectionName = `seed-baseline-${runTag}`
    const seedServer = await ServiceProcess.start({
      name: 'seed-baseline',
      entry: fileURLToPath(new URL('./servers/seed-baseline.js', import.meta.url)),
      env: { REDIS_URL: environment.redisUrl, BASELINE_CHANNEL_PREFIX: environment.redisPrefix, BASELINE_CONNECTION_NAME: connectionName, LOG_LEVEL: options.logLevel },
      logPath: `${runDir}seed-baseline.log`
    })
    const target = seedLongPollTarget(seedServer, runTag, connectionName, options.waiters + options.warmup + 64)
    const seedProfile = await profileNamed(seedServer, 'seed-baseline-completion', run)
    run.longPoll.seed = await runLongPoll(target, {
      waiters: options.waiters,
      rate: options.rate,
      rampRate: options.rampRate,
      warmup: options.warmup,
      holdTimeoutMs,
      redis: observer,
      onCompletionStart: seedProfile.start,
      onCompletionEnd: seedProfile.stop
    })
    await target.close()
    await seedServer.stop()
  }

  if (scenarios.has('2')) {
    say(`scenario 2: ${options.streams} SSE streams, ${options.sseEvents} events at ${options.sseRate}/s`)
    const { gateway, instanceId } = await startGateway('sse')
    const driver = driverFor(gateway, options.streams + 64)
    const gatewayProfile = await profileNamed(gateway, 'gateway-sse-delivery', run)
    run.sse = await runSse(driver, gateway, ingest, {
      streams: options.streams,
      rate: options.sseRate,
      events: options.sseEvents,
      rampRate: options.rampRate,
      redis: observer,
      runTag,
      instanceId,
      onHeld: async () => {
        if (!options.profile) return
        const path = await gateway.heapSnapshot(`${runDir}gateway-held-sse.heapsnapshot`)
        run.heapSnapshots.push({ name: 'gateway with SSE streams held', path: path.slice(resultsDir.length - 'results/'.length), ...await heapClasses(path, options.streams) })
      },
      onEventsStart: gatewayProfile.start,
      onEventsEnd: gatewayProfile.stop
    })
    await driver.close()
    await gateway.stop()
  }

  if (scenarios.has('3')) {
    say(`scenario 3: ingest throughput, ${options.ingestConcurrency} concurrent callers, ${options.ingestSeconds} s per route`)
    const bare = await ServiceProcess.start({
      name: 'bare-route',
      entry: fileURLToPath(new URL('./servers/bare-route.js', import.meta.url)),
      env: { LOG_LEVEL: options.logLevel },
      logPath: `${runDir}bare-route.log`
    })
    // A second ingest, on the same database, sending every change to one back-end endpoint (another bare
    // route, answering 200 at once): measured route by route right after the first.
    const receiver = await ServiceProcess.start({
      name: 'backend-receiver',
      entry: fileURLToPath(new URL('./servers/bare-route.js', import.meta.url)),
      env: { LOG_LEVEL: options.logLevel },
      logPath: `${runDir}backend-receiver.log`
    })
    const withEndpoint = await ServiceProcess.start({
      name: 'webhook-ingest-backend',
      entry: serviceEntry('@herald/webhook-ingest'),
      env: { ...common, BACKEND_WEBHOOK_URLS: `${receiver.url}/callback/backend`, BACKEND_WEBHOOK_SECRET: `whsec_${Buffer.from(`bench-backend-${runTag}-secret-0123`).toString('base64')}` },
      logPath: `${runDir}webhook-ingest-backend.log`
    })
    // Scenario 3 only talks to the ingest.
    const driver = driverFor(ingest, 1)
    const endpointDriver = driverFor(ingest, 1, withEndpoint)
    const ingestProfile = await profileNamed(ingest, 'ingest-throughput', run)
    await ingestProfile.start()
    run.ingest = await runIngest(driver, ingest, bare, {
      seconds: options.ingestSeconds,
      concurrency: options.ingestConcurrency,
      runTag,
      registrations: 1000,
      withBackendEndpoint: { driver: endpointDriver, ingest: withEndpoint }
    })
    await ingestProfile.stop()
    await driver.close()
    await endpointDriver.close()
    await withEndpoint.stop()
    await receiver.stop()
    await bare.stop()
  }

  say('stopping the ingest')
  await ingest.stop()
  run.machine.loadAverageAtEnd = loadavg().map((l) => Math.round(l * 100) / 100)
  return run
}

try {
  const run = await main()
  await writeFile(`${resultsDir}${run.runId}.json`, JSON.stringify(run, null, 2) + '\n')
  await writeFile(`${resultsDir}${run.runId}.svg`, benchChart(run))
  process.stdout.write(markdown(run) + '\n')
  say(`record: bench/results/${run.runId}.json, chart bench/results/${run.runId}.svg (logs and profiles in bench/results/${run.runId}/)`)
  await cleanup()
} catch (err) {
  if (!interrupted) {
    process.stderr.write(`bench failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
    await cleanup()
    process.exit(1)
  }
}
