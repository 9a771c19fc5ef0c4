import t from 'tap'
import Fastify from 'fastify'
import { Counter, Histogram, Registry } from 'prom-client'
import { DeliveryActivity, quantileFromBuckets } from '../src/activity/delivery-activity.js'

const { log } = Fastify()

t.test('quantileFromBuckets estimates as histogram_quantile does', async (t) => {
  const cases: Array<[string, Array<[number, number]>, number, number | null]> = [
    ['nothing observed', [[0.01, 0], [0.1, 0], [Infinity, 0]], 0.5, null],
    ['no buckets at all', [], 0.5, null],
    ['all in the first bucket: linear from 0', [[0.01, 4], [0.1, 4], [Infinity, 4]], 0.5, 0.005],
    ['the median in the second bucket', [[0.01, 2], [0.1, 6], [Infinity, 6]], 0.5, 0.01 + 0.09 * (3 - 2) / 4],
    ['p99 at the top of a bucket', [[0.01, 0], [0.1, 100], [Infinity, 100]], 0.99, 0.01 + 0.09 * 0.99],
    ['past the last finite bound: that bound', [[0.01, 1], [0.1, 1], [Infinity, 10]], 0.99, 0.1],
    ['empty buckets below the rank are skipped', [[0.01, 0], [0.1, 0], [1, 2], [Infinity, 2]], 0.5, 0.1 + 0.9 * 0.5]
  ]
  for (const [name, buckets, q, expected] of cases) {
    const got = quantileFromBuckets(buckets.map(([le, count]) => ({ le, count })), q)
    if (expected === null) t.equal(got, null, name)
    else t.ok(got !== null && Math.abs(got - expected) < 1e-9, `${name}: ${got} ≈ ${expected}`)
  }
})

function metrics () {
  const registry = new Registry()
  const events = new Counter({ name: 'events_total', help: 'events', labelNames: ['entity_type'], registers: [registry] })
  const latency = new Histogram({ name: 'latency_seconds', help: 'latency', labelNames: ['channel'], buckets: [0.01, 0.1, 1], registers: [registry] })
  let clock = 1_000_000
  const activity = new DeliveryActivity({ events, latency, log, stepMs: 1000, windowMs: 5000, now: () => clock })
  return { events, latency, activity, tick: (ms = 1000) => { clock += ms } }
}

t.test('each step gives the events per second and the latency quantiles of that step only', async (t) => {
  const { events, latency, activity, tick } = metrics()
  await activity.sample()
  t.same(activity.snapshot(), { stepSeconds: 1, windowSeconds: 5, points: [] }, 'the first read is the baseline')

  events.inc({ entity_type: 'order' }, 6)
  events.inc({ entity_type: 'registration' }, 4)
  for (const seconds of [0.005, 0.005, 0.05]) latency.observe({ channel: 'sse' }, seconds)
  latency.observe({ channel: 'longpoll' }, 0.5)
  tick(2000)
  await activity.sample()
  const [first] = activity.snapshot().points
  t.match(first, { at: 1_002_000, eventsPerSecond: 5, deliveries: 4 }, 'both entity types and both channels, over two seconds')
  t.equal(first!.latencyP50Seconds, 0.01, 'the median: the top of the first bucket (2 of 4)')
  t.ok(first!.latencyP99Seconds! > 0.1 && first!.latencyP99Seconds! <= 1, 'p99 in the bucket of the slowest delivery')

  tick()
  await activity.sample()
  t.match(activity.snapshot().points[1], { eventsPerSecond: 0, deliveries: 0, latencyP50Seconds: null, latencyP99Seconds: null },
    'a quiet step: no rate and no latency, not the earlier ones again')
})

t.test('points older than the window are dropped; a counter that went backwards starts a new baseline', async (t) => {
  const { events, activity, tick } = metrics()
  await activity.sample()
  for (let i = 0; i < 8; i++) {
    events.inc({ entity_type: 'order' })
    tick()
    await activity.sample()
  }
  const points = activity.snapshot().points
  t.equal(points.length, 5, 'a 5 s window at 1 s steps keeps five points (each ends its step)')
  t.ok(points.every((point) => point.eventsPerSecond === 1))
  events.reset()
  tick()
  await activity.sample()
  t.same(activity.snapshot().points, points, 'no point, and no negative one, for the step of a reset')
  events.inc({ entity_type: 'order' }, 3)
  tick()
  await activity.sample()
  t.equal(activity.snapshot().points.at(-1)!.eventsPerSecond, 3, 'counted again from the new baseline')
})

t.test('start takes the baseline and samples on a timer until close', async (t) => {
  const registry = new Registry()
  const events = new Counter({ name: 'events_total', help: 'events', registers: [registry] })
  const latency = new Histogram({ name: 'latency_seconds', help: 'latency', registers: [registry] })
  const activity = new DeliveryActivity({ events, latency, log, stepMs: 20 })
  t.teardown(() => activity.close())
  await activity.start()
  await activity.start()
  events.inc(5)
  while (activity.snapshot().points.length === 0) await new Promise((resolve) => setTimeout(resolve, 10))
  t.ok(activity.snapshot().points.some((point) => point.eventsPerSecond > 0), 'the timer took a point with the events')
  await activity.close()
  const count = activity.snapshot().points.length
  await new Promise((resolve) => setTimeout(resolve, 80))
  t.equal(activity.snapshot().points.length, count, 'nothing more after close')
})
