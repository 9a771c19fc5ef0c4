// Scenario 2: N registration SSE streams held on one gateway process; stage events sent through the
// ingest at rate R, spread round-robin over the registrations; per event, the time from its POST being
// sent to its stream delivering it; events acknowledged by the ingest but never delivered are drops.
import { performance } from 'node:perf_hooks'
import type { Redis } from 'ioredis'
import type { RegistrationSseMessage } from '@herald/contracts'
import type { HeraldDriver, SseHandle } from '../herald-driver.js'
import { atRate, forEachConcurrently, waitUntil } from '../load.js'
import { LoopDelay, memoryPerUnit, readMemory, redisClients, type MemoryPerUnit } from '../observe.js'
import { metricValue, type ServiceProcess } from '../processes.js'
import { round, summarize, type LatencySummary } from '../stats.js'

export interface SseOptions {
  streams: number
  rate: number
  events: number
  rampRate: number
  redis: Redis
  runTag: string
  instanceId: string
  onHeld?: () => Promise<void>
  onEventsStart?: () => Promise<void>
  onEventsEnd?: () => Promise<void>
}

export interface SseResult {
  streams: number
  rate: number
  events: number
  preparation: { seconds: number, perSecond: number, errors: number, latency: LatencySummary }
  ramp: { seconds: number, connected: number, heldByGateway: number, failed: number }
  memory: MemoryPerUnit
  redisConnections: { server: number, connectedDuringHold: number }
  delivery: {
    sendSeconds: number
    offeredRate: number
    acknowledged: number
    postErrors: number
    postLatency: LatencySummary
    delivered: number
    duplicates: number
    drops: number
    streamsEnded: number
    latency: LatencySummary
    /** From the event POST's answer (committed) to the stream delivering it; negative when the stream was first. */
    afterPostAnswer: LatencySummary
    /** CPU time per event in the gateway and the ingest while the events were sent and delivered. */
    cpuMsPerEvent: Record<string, number>
  }
  benchLoopDelayMs: { p50: number, p99: number, max: number }
}

const SEQ = /^seq:(\d+)$/

export async function runSse (driver: HeraldDriver, gateway: ServiceProcess, ingest: ServiceProcess, options: SseOptions): Promise<SseResult> {
  const { streams, events, runTag } = options
  const registrationId = (index: number): string => `bench-${runTag}-r${index}`
  const tokens: string[] = []

  const preparationLatency: number[] = []
  let preparationErrors = 0
  const preparationStarted = performance.now()
  await forEachConcurrently(streams, 32, async (index) => {
    const started = performance.now()
    const answer = await driver.registrationEvent(registrationId(index), { type: 'stage', stage: 'intake', status: 'started', message: 'bench registration' })
    if (answer.status >= 300) {
      preparationErrors++
      return
    }
    preparationLatency.push(performance.now() - started)
    tokens[index] = answer.body.subscribeToken
  })
  const preparationSeconds = (performance.now() - preparationStarted) / 1000
  if (preparationErrors > 0) throw new Error(`sse: ${preparationErrors} of ${streams} registrations could not be created`)

  const before = await readMemory(gateway)

  const sendAt = new Float64Array(events)
  const received = new Uint8Array(events)
  const answeredAt = new Float64Array(events)
  const receivedAtOf = new Float64Array(events)
  const latencies: number[] = []
  let duplicates = 0
  let delivered = 0
  let connected = 0
  let failed = 0
  let streamsEnded = 0
  let closing = false
  const handles: SseHandle[] = []
  const rampStarted = performance.now()
  await atRate(streams, options.rampRate, (index) => {
    const handle = driver.followRegistration(registrationId(index), tokens[index], (message) => {
      const sse = message as RegistrationSseMessage
      if (sse.type !== 'update') return
      const seq = SEQ.exec(sse.data.message)
      if (seq === null) return
      const k = Number(seq[1])
      if (received[k] === 1) {
        duplicates++
        return
      }
      received[k] = 1
      delivered++
      receivedAtOf[k] = performance.now()
      latencies.push(receivedAtOf[k] - sendAt[k])
    }, () => {
      if (!closing) streamsEnded++
    })
    handle.connected.then(() => { connected++ }, () => { failed++ })
    handles.push(handle)
  })
  await waitUntil(() => connected + failed >= streams, 60_000 + streams * 10, 100)
  const gatewayCount = async (): Promise<number> => metricValue(await gateway.metrics(), 'herald_gateway_active_sse_streams') ?? 0
  await waitUntil(async () => await gatewayCount() >= connected, 10_000, 250)
  const heldByGateway = await gatewayCount()
  const rampSeconds = (performance.now() - rampStarted) / 1000

  const after = await readMemory(gateway)
  const during = await redisClients(options.redis, `herald-gateway-${options.instanceId}`)
  await options.onHeld?.()

  await options.onEventsStart?.()
  const cpuBefore = await Promise.all([gateway.cpuMs(), ingest.cpuMs()])
  const loopDelay = new LoopDelay()
  const postLatency: number[] = []
  let acknowledged = 0
  let postErrors = 0
  const posts: Array<Promise<void>> = []
  const { seconds: sendSeconds } = await atRate(events, options.rate, (k) => {
    const sentAt = performance.now()
    sendAt[k] = sentAt
    posts.push(driver.registrationEvent(registrationId(k % streams), { type: 'stage', stage: `step_${Math.floor(k / streams)}`, status: 'started', message: `seq:${k}` }).then((answer) => {
      if (answer.status < 300) {
        acknowledged++
        answeredAt[k] = performance.now()
        postLatency.push(answeredAt[k] - sentAt)
      } else {
        postErrors++
      }
    }, () => { postErrors++ }))
  })
  await Promise.all(posts)
  await waitUntil(() => delivered >= acknowledged, 30_000, 50)
  const benchLoopDelayMs = loopDelay.stop()
  const afterPostAnswer: number[] = []
  for (let k = 0; k < events; k++) {
    if (receivedAtOf[k] > 0 && answeredAt[k] > 0) afterPostAnswer.push(receivedAtOf[k] - answeredAt[k])
  }
  const cpuAfter = await Promise.all([gateway.cpuMs(), ingest.cpuMs()])
  const cpuMsPerEvent = {
    [gateway.name]: round((cpuAfter[0] - cpuBefore[0]) / events, 3),
    [ingest.name]: round((cpuAfter[1] - cpuBefore[1]) / events, 3)
  }
  await options.onEventsEnd?.()

  closing = true
  for (const handle of handles) handle.close()

  return {
    streams,
    rate: options.rate,
    events,
    preparation: { seconds: round(preparationSeconds), perSecond: round(preparationLatency.length / preparationSeconds, 0), errors: preparationErrors, latency: summarize(preparationLatency) },
    ramp: { seconds: round(rampSeconds), connected, heldByGateway, failed },
    memory: memoryPerUnit(before, after, connected),
    redisConnections: { server: during.named, connectedDuringHold: during.connected },
    delivery: {
      sendSeconds: round(sendSeconds),
      offeredRate: round(events / sendSeconds, 0),
      acknowledged,
      postErrors,
      postLatency: summarize(postLatency),
      delivered,
      duplicates,
      drops: acknowledged - delivered,
      streamsEnded,
      latency: summarize(latencies),
      afterPostAnswer: summarize(afterPostAnswer),
      cpuMsPerEvent
    },
    benchLoopDelayMs
  }
}
