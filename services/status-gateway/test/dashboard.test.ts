import t from 'tap'
import { fileURLToPath } from 'node:url'
import { publicDir } from '../src/routes/dashboard/index.js'
import { buildGateway, listen } from './helper.js'
import { ADMIN } from './support.js'

t.test('the dashboard is served at / and the demo checkout at /demo/checkout, as HTML that is always revalidated', async (t) => {
  const { app } = await buildGateway(t)
  for (const [url, marker] of [['/', /<title>Herald · live activity<\/title>/], ['/demo/checkout', /waitForOrder/]] as const) {
    const res = await app.inject({ method: 'GET', url })
    t.equal(res.statusCode, 200, `${url} answers`)
    t.match(res.headers['content-type'], /^text\/html/, `${url} is HTML`)
    t.equal(res.headers['cache-control'], 'no-cache', `${url} is revalidated on every load`)
    t.match(res.body, marker)
  }
})

t.test('the client bundle and the page assets are served, revalidated, and answer 304 to a matching ETag', async (t) => {
  const { app } = await buildGateway(t)
  const bundle = await app.inject({ method: 'GET', url: '/herald-client.js' })
  t.equal(bundle.statusCode, 200)
  t.match(bundle.headers['content-type'], /javascript/)
  t.equal(bundle.headers['cache-control'], 'no-cache', 'a new bundle is picked up at once, never mixed with an old page')
  t.match(bundle.body, /waitForOrder/)
  const again = await app.inject({ method: 'GET', url: '/herald-client.js', headers: { 'if-none-match': String(bundle.headers.etag) } })
  t.equal(again.statusCode, 304, 'unchanged: nothing re-sent')
  for (const url of ['/dashboard.js', '/dashboard.css']) {
    const res = await app.inject({ method: 'GET', url })
    t.equal(res.statusCode, 200, url)
    t.equal(res.headers['cache-control'], 'no-cache', url)
  }
  const head = await app.inject({ method: 'HEAD', url: '/' })
  t.equal(head.statusCode, 200, 'HEAD / answers too')
})

t.test('the API, probes, metrics and OpenAPI document are unaffected; the pages stay out of the OpenAPI document', async (t) => {
  const { app } = await buildGateway(t)
  t.same((await app.inject({ method: 'GET', url: '/healthz' })).json(), { status: 'ok' })
  t.equal((await app.inject({ method: 'GET', url: '/readyz' })).statusCode, 200)
  t.match((await app.inject({ method: 'GET', url: '/metrics' })).body, /herald_gateway_active_waiters/)
  const missing = await app.inject({ method: 'GET', url: '/api/nope' })
  t.equal(missing.statusCode, 404)
  t.match(missing.json(), { success: false, code: 'HERALD_ERR_ROUTE_NOT_FOUND' }, 'an unknown API path still gets the error body')
  const outside = await app.inject({ method: 'GET', url: '/..%2fpackage.json' })
  t.equal(outside.statusCode, 404, 'nothing outside public/ is reachable')
  t.notMatch(outside.body, /@herald\/status-gateway/)

  const openapi = await app.inject({ method: 'GET', url: '/openapi.json' })
  t.equal(openapi.statusCode, 200)
  const paths = Object.keys(openapi.json().paths as Record<string, unknown>)
  t.ok(paths.includes('/api/orders/updates/stream') && paths.includes('/api/stats'), 'the new API routes are documented')
  t.same(paths.filter((path) => !path.startsWith('/api/')), [], 'only /api routes are documented')
})

t.test('public/ is found from the compiled dist/ as from src/: the same folder, next to both', async (t) => {
  const compiled = await import(new URL('../dist/routes/dashboard/index.js', import.meta.url).href) as { publicDir: string }
  const expected = fileURLToPath(new URL('../public/', import.meta.url))
  t.equal(publicDir, expected, 'from src/')
  t.equal(compiled.publicDir, expected, 'from dist/ (what server.js and a `pnpm deploy` folder run)')
})

t.test('the pages carry a Content-Security-Policy that allows only their own code and origin, and no framing', async (t) => {
  const { app } = await buildGateway(t)
  for (const url of ['/', '/index.html', '/demo/checkout', '/demo/checkout.html']) {
    const res = await app.inject({ method: 'GET', url })
    t.equal(res.statusCode, 200, url)
    const csp = String(res.headers['content-security-policy'])
    t.match(csp, /(^|; )connect-src 'self'(;|$)/, `${url}: fetches and streams go to this origin only`)
    t.match(csp, /(^|; )frame-ancestors 'none'(;|$)/, `${url}: never framed`)
    t.match(csp, /(^|; )script-src 'self'( 'sha256-[A-Za-z0-9+/=]+')*(;|$)/, `${url}: no inline script but its own, by hash`)
    t.notMatch(csp, /unsafe-inline|unsafe-eval|\*/, `${url}: nothing unsafe, no wildcard`)
    t.equal(res.headers['x-content-type-options'], 'nosniff', url)
    t.equal(res.headers['referrer-policy'], 'no-referrer', `${url}: no token leaves in a Referer`)
    t.equal(res.headers['x-frame-options'], 'DENY', url)
  }
  const checkout = await app.inject({ method: 'GET', url: '/demo/checkout' })
  const inline = /<script type="module">([\s\S]*?)<\/script>/.exec(checkout.body)![1]!
  const { createHash } = await import('node:crypto')
  t.match(String(checkout.headers['content-security-policy']), `'sha256-${createHash('sha256').update(inline).digest('base64')}'`, 'the checkout\'s inline module is allowed by its hash')
})

t.test('JSON, SSE and probe answers carry the API headers: nothing loads, nothing frames, nothing sniffs', async (t) => {
  const { app } = await buildGateway(t)
  for (const url of ['/healthz', '/api/orders/nope', '/api/stats', '/metrics', '/openapi.json', '/herald-client.js']) {
    const res = await app.inject({ method: 'GET', url })
    t.equal(res.headers['x-content-type-options'], 'nosniff', `${url} (${res.statusCode})`)
    t.equal(res.headers['referrer-policy'], 'no-referrer', url)
    t.match(String(res.headers['content-security-policy']), /default-src 'none'.*frame-ancestors 'none'/, url)
    t.equal(res.headers['x-frame-options'], 'DENY', url)
  }
})

t.test('an SSE stream carries the API headers next to its own', async (t) => {
  const { app } = await buildGateway(t)
  const base = await listen(app)
  const stop = new AbortController()
  const res = await fetch(`${base}/api/orders/updates/stream`, { headers: { authorization: `Bearer ${ADMIN}` }, signal: stop.signal })
  t.equal(res.status, 200)
  t.match(res.headers.get('content-type'), /^text\/event-stream/)
  t.equal(res.headers.get('x-content-type-options'), 'nosniff')
  t.equal(res.headers.get('referrer-policy'), 'no-referrer')
  t.match(res.headers.get('content-security-policy'), /default-src 'none'/)
  stop.abort()
})
