import t from 'tap'
import { buildGateway } from './helper.js'
import { signSubscribeToken } from '@herald/contracts/subscribe-token'
import { TEST_SECRETS } from '@herald/service-kit/testing'
import { loadGatewayConfig } from '../src/config.js'
import { ADMIN, orderEvent, registrationEvent, tokenFor, usePublisher } from './support.js'

t.test('without a valid token: 401 and no customer data; a token for order A cannot read order B', async (t) => {
  const { app, prefix } = await buildGateway(t)
  const { publisher } = usePublisher(t, prefix)
  await publisher.publish(orderEvent('order-a', 1))
  await publisher.publish(orderEvent('order-b', 1))
  for (const url of ['/api/orders/order-a', '/api/orders/order-a/wait?timeout=0', '/api/orders/order-a/events']) {
    const none = await app.inject({ url })
    t.equal(none.statusCode, 401, `${url} without a token`)
    t.match(none.json(), { success: false, code: 'HERALD_ERR_UNAUTHORIZED' })
    t.notMatch(none.body, /jane@example\.com/)
    const bad = await app.inject({ url, headers: { authorization: 'Bearer hst1.forged.token' } })
    t.equal(bad.statusCode, 401, `${url} with a forged token`)
  }
  const expired = await app.inject({ url: `/api/orders/order-a?token=${tokenFor('order', 'order-a', -1000)}` })
  t.equal(expired.statusCode, 401, 'an expired token')
  const tokenA = tokenFor('order', 'order-a')
  const other = await app.inject({ url: '/api/orders/order-b', headers: { authorization: `Bearer ${tokenA}` } })
  t.equal(other.statusCode, 403)
  t.match(other.json(), { code: 'HERALD_ERR_FORBIDDEN' })
  t.notMatch(other.body, /jane@example\.com/)
  const registration = await app.inject({ url: `/api/registrations/order-a?token=${tokenA}` })
  t.equal(registration.statusCode, 403, 'an order token does not open a registration of the same id')
  const own = await app.inject({ url: '/api/orders/order-a', headers: { authorization: `Bearer ${tokenA}` } })
  t.equal(own.statusCode, 200)
  t.match(own.json(), { orderId: 'order-a', customer: { email: 'jane@example.com' } })
})

t.test('the admin token opens everything; an admin-scope subscribe token too', async (t) => {
  const { app, prefix } = await buildGateway(t)
  const { publisher } = usePublisher(t, prefix)
  await publisher.publish(orderEvent('order-c', 1))
  await publisher.publish(registrationEvent('reg-c', 1))
  t.equal((await app.inject({ url: `/api/orders/order-c?token=${ADMIN}` })).statusCode, 200)
  const reg = await app.inject({ url: '/api/registrations/reg-c', headers: { authorization: `Bearer ${ADMIN}` } })
  t.match(reg.json(), { success: true, registrationId: 'reg-c', version: 1, stage: 'stage_1' })
  const scoped = await app.inject({ url: `/api/orders/order-c?token=${tokenFor('admin', '*')}` })
  t.match(scoped.json(), { customer: { email: 'jane@example.com' } })
  const unknown = await app.inject({ url: `/api/registrations/nope?token=${ADMIN}` })
  t.equal(unknown.statusCode, 404)
})

t.test('anonymous mode lets legacy frontends read status, never the customer', async (t) => {
  const { app, prefix } = await buildGateway(t, { GATEWAY_ANONYMOUS: 'true' })
  const { publisher } = usePublisher(t, prefix)
  await publisher.publish(orderEvent('order-d', 1))
  await publisher.publish(orderEvent('order-d', 2, 'completed'))
  const snapshot = await app.inject({ url: '/api/orders/order-d' })
  t.equal(snapshot.statusCode, 200)
  t.match(snapshot.json(), { orderId: 'order-d', paymentStatus: 'completed', customer: null })
  const wait = await app.inject({ url: '/api/orders/order-d/wait' })
  t.match(wait.json(), { paymentStatus: 'completed', customer: null, timedOut: false })
  const otherToken = await app.inject({ url: `/api/orders/order-d?token=${tokenFor('order', 'order-x')}` })
  t.match(otherToken.json(), { customer: null })
  const owner = await app.inject({ url: `/api/orders/order-d?token=${tokenFor('order', 'order-d')}` })
  t.match(owner.json(), { customer: { email: 'jane@example.com' } })
})

t.test('a provider\'s resultDesc naming the payer\'s phone is masked for readers the order is not open to', async (t) => {
  const { app, prefix } = await buildGateway(t, { GATEWAY_ANONYMOUS: 'true' })
  const { publisher } = usePublisher(t, prefix)
  const event = orderEvent('order-desc', 1, 'completed')
  event.order.payment.resultDesc = 'Payment of KES 1500 from 254708374149 jane@example.com received'
  await publisher.publish(event)
  for (const url of ['/api/orders/order-desc', '/api/orders/order-desc/wait']) {
    const anonymous = (await app.inject({ url })).json()
    t.notMatch(anonymous.payment.resultDesc, /708374|jane@/, `${url}: masked without a token`)
    t.match(anonymous.payment.resultDesc, /Payment of KES 1500 from 254\*+149/, `${url}: the rest kept`)
    const owner = (await app.inject({ url, headers: { authorization: `Bearer ${tokenFor('order', 'order-desc')}` } })).json()
    t.match(owner.payment.resultDesc, /254708374149/, `${url}: in full for the order's own token`)
  }
})

t.test('a subscribe token is exactly its canonical encoding: junk after it is a 401, even in anonymous mode it opens nothing', async (t) => {
  const { app, prefix, schema } = await buildGateway(t)
  const { publisher } = usePublisher(t, prefix)
  await publisher.publish(orderEvent('order-e', 1))
  const token = tokenFor('order', 'order-e')
  t.equal((await app.inject({ url: '/api/orders/order-e', headers: { authorization: `Bearer ${token}` } })).statusCode, 200)
  for (const forged of [`${token}!!`, `${token}=`, `${token}.x`, `${token.slice(0, -1)}${token.at(-1) === 'A' ? 'B' : 'A'}`]) {
    const res = await app.inject({ url: `/api/orders/order-e?token=${encodeURIComponent(forged)}` })
    t.equal(res.statusCode, 401, `${forged.slice(-6)}: refused`)
    t.match(res.json(), { code: 'HERALD_ERR_UNAUTHORIZED' })
  }
  const anonymous = await buildGateway(t, { GATEWAY_ANONYMOUS: 'true' }, { schema, prefix })
  const res = await anonymous.app.inject({ url: `/api/orders/order-e?token=${encodeURIComponent(`${token}!!`)}` })
  t.match(res.json(), { customer: null }, 'anonymous mode: the status, not the customer')
})

t.test('CORS answers the configured origins only', async (t) => {
  const { app } = await buildGateway(t, { GATEWAY_CORS_ORIGINS: 'https://shop.example.com, https://admin.example.com' })
  const allowed = await app.inject({ method: 'OPTIONS', url: '/api/orders/x/wait', headers: { origin: 'https://shop.example.com', 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' } })
  t.equal(allowed.headers['access-control-allow-origin'], 'https://shop.example.com')
  const other = await app.inject({ url: `/api/orders/x?token=${ADMIN}`, headers: { origin: 'https://evil.example.com' } })
  t.equal(other.headers['access-control-allow-origin'], undefined)
})

t.test('percent-encoded surrogate bytes in a path or query are a 4xx naming the problem, never a 500', async (t) => {
  const { app, prefix } = await buildGateway(t)
  const { publisher } = usePublisher(t, prefix)
  await publisher.publish(orderEvent('order-s', 1))
  const cases: Array<[string, number]> = [
    ['/api/orders/%ED%A0%80', 400],
    ['/api/orders/a%ED%A0%80b/wait', 400],
    ['/api/orders/order-s?token=%ED%A0%80', 401],
    [`/api/registrations/updates/stream?registrationId=%ED%A0%80&token=${ADMIN}`, 400],
    [`/api/orders/order-s/wait?timeout=0&since=%ED%A0%80&token=${ADMIN}`, 400]
  ]
  for (const [url, status] of cases) {
    const res = await app.inject({ url })
    t.equal(res.statusCode, status, url)
    t.match(res.json(), { success: false, code: /^HERALD_ERR_/, error: String }, `${url}: the error body`)
  }
})

t.test('SUBSCRIBE_TOKEN_SECRET rotation: tokens of every listed secret verify; a retired secret no longer does', async (t) => {
  const oldSecret = TEST_SECRETS.SUBSCRIBE_TOKEN_SECRET
  const newSecret = 'rotated-subscribe-secret-4567'
  const tokenOf = (secret: string) => signSubscribeToken(secret, { scope: 'order', id: 'order-r', exp: Date.now() + 60_000 })
  const during = await buildGateway(t, { SUBSCRIBE_TOKEN_SECRET: `${newSecret}, ${oldSecret}` })
  const { publisher } = usePublisher(t, during.prefix)
  await publisher.publish(orderEvent('order-r', 1))
  for (const [name, secret] of [['new', newSecret], ['old', oldSecret]]) {
    const answer = await during.app.inject({ url: '/api/orders/order-r', headers: { authorization: `Bearer ${tokenOf(secret!)}` } })
    t.equal(answer.statusCode, 200, `during the rotation a token of the ${name} secret opens the order`)
  }
  const after = await buildGateway(t, { SUBSCRIBE_TOKEN_SECRET: newSecret }, { schema: during.schema, prefix: during.prefix })
  t.equal((await after.app.inject({ url: '/api/orders/order-r', headers: { authorization: `Bearer ${tokenOf(newSecret)}` } })).statusCode, 200)
  const retired = await after.app.inject({ url: '/api/orders/order-r', headers: { authorization: `Bearer ${tokenOf(oldSecret)}` } })
  t.equal(retired.statusCode, 401, 'once retired, the old secret opens nothing')
})

t.test('SUBSCRIBE_TOKEN_SECRET refuses a list with a short or empty secret, naming the variable', async (t) => {
  for (const value of ['long-enough-secret-0001,short', 'long-enough-secret-0001,,long-enough-secret-0002']) {
    t.throws(() => loadGatewayConfig({ DATABASE_URL: 'postgres://x/y', ADMIN_TOKEN: 'admin-token-0123456789', SUBSCRIBE_TOKEN_SECRET: value }), /SUBSCRIBE_TOKEN_SECRET/)
  }
})
