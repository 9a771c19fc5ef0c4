// Postgres unreachable for a while (a TCP proxy in front of it refuses, then blackholes): the ingest answers
// 503, writes nothing, and recovers by itself. The machine's Postgres is never touched.
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { TEST_DATABASE_URL } from '@herald/service-kit/testing'
import { TcpProxy, startGateway, startIngest, until } from '../support/processes.js'
import { recordFigures, tableCounts, usePostgres, useStorage } from '../support/storage.js'
import { MPESA_PATH, call, darajaCallback, deliver, orderBody, signedCall, stageEvent, waitForFinal } from '../support/traffic.js'

const postgres = new URL(TEST_DATABASE_URL)

for (const mode of (process.env.PG_OUTAGE_MODES ?? 'cut,blackhole').split(',') as Array<'cut' | 'blackhole'>) {
  const what = mode === 'cut' ? 'Postgres refusing connections (restart, failover)' : 'Postgres silent (network partition)'
  t.test(`with ${what} the ingest answers 503, writes nothing, and recovers by itself`, async (t) => {
    const storage = await useStorage(t, `pg_${mode}`)
    const pool = usePostgres(t, storage)
    const proxy = await TcpProxy.start(t, { host: postgres.hostname, port: Number(postgres.port || 5432) })
    const ingest = await startIngest(t, { ...storage, databaseUrl: proxy.urlFor(storage.databaseUrl) })
    const gateway = await startGateway(t, storage)
    const ingests = () => [ingest.url]

    const order = await deliver(ingests, 'PUT', `/v1/orders/pg-ord-${mode}`, orderBody(`ws_CO_pg_${mode}`), `msg_pg_put_${mode}`)
    t.equal(order.status, 200, 'order registered while Postgres is up')
    const waiting = waitForFinal(() => [gateway.url], `pg-ord-${mode}`, order.body.subscribeToken, 240_000)
    waiting.catch(() => {})
    const before = await tableCounts(pool)

    if (mode === 'cut') proxy.cut()
    else proxy.blackhole()
    const figures = { mode, answersWhileDown: {} as Record<string, number>, ingestSurvived: false, recovered: false }
    // Every kind of write while Postgres is away: each must be a 503 (not a hang, not another 5xx, not a 2xx).
    const writes = [
      () => signedCall(ingest.url, 'POST', `/v1/registrations/pg-reg-${mode}/events`, stageEvent(1), { id: `msg_pg_${mode}_reg` }),
      () => signedCall(ingest.url, 'PUT', `/v1/orders/pg-ord2-${mode}`, orderBody(`ws_CO_pg2_${mode}`), { id: `msg_pg_${mode}_put2` }),
      () => call(`${ingest.url}${MPESA_PATH}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(darajaCallback(`ws_CO_pg_${mode}`, 0)), timeoutMs: 60_000 })
    ]
    for (const [i, write] of writes.entries()) {
      const answer = await write()
      figures.answersWhileDown[answer.status] = (figures.answersWhileDown[answer.status] ?? 0) + 1
      t.equal(answer.status, 503, `write ${i + 1} answers 503 (got ${answer.status === 0 ? 'no answer within 60 s' : `${answer.status} ${JSON.stringify(answer.body)}`})`)
      if (answer.status === 503) t.match(answer.body, { success: false, code: /^HERALD_ERR_/ }, 'with the error body')
    }
    const readiness = await call(`${ingest.url}/readyz`, { timeoutMs: 60_000 })
    t.equal(readiness.status, 503, 'readyz reports Postgres down')
    await sleep(1000)
    figures.ingestSurvived = ingest.running
    t.ok(ingest.running && figures.answersWhileDown['503'] === writes.length, 'the ingest is still serving')
    if (!ingest.running) t.comment(`ingest output:\n${ingest.output.slice(-6000)}`)
    proxy.restore()
    t.same(await tableCounts(pool), before, 'nothing was written while Postgres was away')

    figures.recovered = await until(async () => (await call(`${ingest.url}/readyz`)).status === 200, 'the ingest to be ready again', 60_000).then(() => true, () => false)
    t.ok(figures.recovered, 'the ingest is ready again by itself')
    recordFigures(`postgres-outage-${mode}`, figures)
    if (!figures.recovered) return
    // Recovered by itself: the producers' and the provider's retries go through, once.
    const retried = await deliver(ingests, 'POST', `/v1/registrations/pg-reg-${mode}/events`, stageEvent(1), `msg_pg_${mode}_reg`)
    t.equal(retried.status, 200, 'the retried registration event is accepted after recovery')
    const replay = await deliver(ingests, 'POST', `/v1/registrations/pg-reg-${mode}/events`, stageEvent(1), `msg_pg_${mode}_reg`)
    t.equal(replay.status, 200, 'a second retry of the same message is answered too')
    const paid = await call(`${ingest.url}${MPESA_PATH}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(darajaCallback(`ws_CO_pg_${mode}`, 0)) })
    t.equal(paid.status, 200, 'the provider\'s retried callback is accepted after recovery')
    const final = await waiting
    t.equal(final.final.paymentStatus, 'completed', 'the waiting client got the payment')
    const { rows: [registration] } = await pool.query('select version from registrations where id = $1', [`pg-reg-${mode}`])
    t.equal(registration.version, 1, 'one message, one version: nothing applied twice')

    t.comment(JSON.stringify(figures))
    recordFigures(`postgres-outage-${mode}`, figures)
  })
}
