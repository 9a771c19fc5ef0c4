import t from 'tap'
import { freePort } from '@herald/service-kit/testing'
import { buildGateway } from './helper.js'
import { ADMIN, orderEvent, usePublisher } from './support.js'

const headers = { authorization: `Bearer ${ADMIN}` }

t.test('with Postgres down, what Redis cannot serve answers 503; what it can is still served', async (t) => {
  // Nothing listens on this port: every query fails to connect, as with Postgres down.
  const deadDatabase = `postgres://postgres@127.0.0.1:${await freePort()}/test`
  const { app, prefix } = await buildGateway(t, { DATABASE_URL: deadDatabase })
  const { publisher } = usePublisher(t, prefix)
  await publisher.publish(orderEvent('o-cached', 2))

  const cached = await app.inject({ method: 'GET', url: '/api/orders/o-cached', headers })
  t.equal(cached.statusCode, 200, 'an order with a Redis snapshot is served')
  t.equal(cached.json().version, 2)

  for (const url of ['/api/orders/o-unknown', '/api/orders/o-unknown/wait?timeout=1000', '/api/registrations/r-unknown']) {
    const res = await app.inject({ method: 'GET', url, headers })
    t.equal(res.statusCode, 503, `${url}: 503, not 500`)
    t.equal(res.json().code, 'HERALD_ERR_UNAVAILABLE', url)
  }
  t.equal(app.orderWaiters.size, 0, 'the refused long-poll holds nothing')
})
