// The OpenAPI document describes the SSE routes as event streams, and a reference page serves it.
import t from 'tap'
import { buildGateway } from './helper.js'

const SSE_ROUTES = ['/api/orders/{orderId}/events', '/api/orders/updates/stream', '/api/registrations/updates/stream']

t.test('SSE routes are text/event-stream with their message schemas, never application/json', async (t) => {
  const { app } = await buildGateway(t)
  const document = (await app.inject({ url: '/openapi.json' })).json()
  for (const path of SSE_ROUTES) {
    const ok = document.paths[path]?.get?.responses?.['200']
    t.ok(ok !== undefined, `${path} is documented`)
    t.same(Object.keys(ok.content), ['text/event-stream'], `${path}: 200 is an event stream only`)
    const messages = JSON.stringify(ok.content['text/event-stream'].schema)
    for (const type of ['connected', 'update', 'ping', 'reset', 'closing']) t.match(messages, `"${type}"`, `${path}: the ${type} message`)
  }
})

t.test('GET /documentation serves the API reference page over /openapi.json', async (t) => {
  const { app } = await buildGateway(t)
  const page = await app.inject({ url: '/documentation/' })
  t.equal(page.statusCode, 200)
  t.match(page.headers['content-type'], /text\/html/)
  t.match(page.body, /swagger-ui/)
  t.notMatch(String(page.headers['content-security-policy']), /default-src 'none'/, 'the page may load its own scripts')
  const spec = await app.inject({ url: '/documentation/json' })
  t.equal(spec.statusCode, 200)
  t.equal(spec.json().info.title, 'Herald status-gateway')
})
