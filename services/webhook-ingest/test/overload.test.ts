// Under pressure the ingest sheds load: 503 with Retry-After (providers and producers retry), probes answer.
import t from 'tap'
import { buildIngest, eventually, fixture, orderBody, postCallback, putOrder } from './helper.js'

t.test('past its memory limit the ingest answers 503 OVERLOADED with Retry-After; probes and metrics still answer', async (t) => {
  // Any heap is past one byte: the process is under pressure from its first sample on.
  const { app } = await buildIngest(t, { PRESSURE_MAX_HEAP_USED_BYTES: '1', PRESSURE_RETRY_AFTER_SECONDS: '4' })
  await eventually(() => app.isUnderPressure(), 20_000, 'the process under pressure')

  const callback = await postCallback(app, 'mpesa', fixture('daraja-stk-success'))
  t.equal(callback.statusCode, 503, 'a provider callback is refused, to be retried')
  t.equal(callback.headers['retry-after'], '4')
  t.match(callback.json(), { success: false, code: 'HERALD_ERR_OVERLOADED', error: /overloaded/ })
  const order = await putOrder(app, 'ord_pressure', orderBody())
  t.equal(order.statusCode, 503, 'an internal producer too')
  t.match(order.json(), { code: 'HERALD_ERR_OVERLOADED' })
  for (const probe of ['/healthz', '/readyz', '/metrics']) t.equal((await app.inject({ url: probe })).statusCode, 200, `${probe} answers`)
})

t.test('within its limits the ingest takes requests as before', async (t) => {
  const { app } = await buildIngest(t, { PRESSURE_MAX_HEAP_USED_BYTES: String(64 * 1024 * 1024 * 1024) })
  t.equal((await putOrder(app, 'ord_calm', orderBody())).statusCode, 200)
  t.notOk(app.isUnderPressure())
})
