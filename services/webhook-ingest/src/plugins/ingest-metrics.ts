// The ingest's Prometheus metrics, on the service registry: callbacks, duplicates, parked, anomalies, outbox.
import fp from 'fastify-plugin'
import { Counter, Gauge, Histogram } from 'prom-client'

export interface IngestMetrics {
  callbacks: Counter<'provider' | 'outcome' | 'disposition'>
  duplicates: Counter<'source'>
  parked: Counter<'provider'>
  reviewItems: Counter<'kind'>
  publishLatency: Histogram<'path'>
}

declare module 'fastify' {
  interface FastifyInstance {
    ingestMetrics: IngestMetrics
  }
}

export default fp(async (fastify) => {
  const registers = [fastify.metricsRegistry]
  const metrics: IngestMetrics = {
    callbacks: new Counter({
      name: 'herald_ingest_callbacks_total',
      help: 'Provider callbacks accepted, by provider, outcome and what Herald did with them.',
      labelNames: ['provider', 'outcome', 'disposition'],
      registers
    }),
    duplicates: new Counter({
      name: 'herald_ingest_duplicates_total',
      help: 'Requests recognised as repeats (same callback, or same webhook-id) and answered without change.',
      labelNames: ['source'],
      registers
    }),
    parked: new Counter({
      name: 'herald_ingest_parked_total',
      help: 'Callbacks parked because their order was not registered yet.',
      labelNames: ['provider'],
      registers
    }),
    reviewItems: new Counter({
      name: 'herald_ingest_review_items_total',
      help: 'Anomalies recorded for review: refused transitions and amount or currency mismatches.',
      labelNames: ['kind'],
      registers
    }),
    publishLatency: new Histogram({
      name: 'herald_ingest_outbox_publish_latency_seconds',
      help: 'Time from commit to the event being on its stream, by publish path.',
      labelNames: ['path'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers
    })
  }
  const pool = fastify.pgPool
  // Read at scrape time, so every replica reports the shared backlog without polling Postgres itself.
  // Postgres unreachable, the backlog is unknown: the series is left out and `database_up` says why.
  new Gauge({ // eslint-disable-line no-new
    name: 'herald_ingest_database_up',
    help: '1 when Postgres answered this scrape, 0 when it did not (the outbox and back-end gauges are absent then).',
    registers,
    async collect () {
      this.set(await pool.query('select 1').then(() => 1, () => 0))
    }
  })
  new Gauge({ // eslint-disable-line no-new
    name: 'herald_ingest_outbox_backlog',
    help: 'Outbox rows committed but not yet published to Redis Streams (absent when Postgres is unreachable).',
    registers,
    async collect () {
      const rows = await pool.query<{ n: string }>('select count(*)::text as n from outbox_pending').then((result) => result.rows, () => null)
      // A label-less gauge always has a value; remove() drops it, so the series is absent.
      if (rows === null) this.remove()
      else this.set(Number(rows[0]!.n))
    }
  })
  fastify.decorate('ingestMetrics', metrics)
}, { name: 'herald-ingest-metrics', dependencies: ['herald-metrics', 'herald-database'] })
