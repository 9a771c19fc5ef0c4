// The dashboard and the demo checkout in Chromium, as the status-gateway serves them (same origin), against a
// real webhook-ingest and status-gateway.
import t from 'tap'
import type { GatewayStatsResponse, OrderSnapshotResponse, RegistrationEventBody } from '@herald/contracts'
import { darajaCallback, planOrder, runSimulation, seededRandom } from '@herald/simulator'
import { startHerald } from '../herald.ts'
import { chromiumMissing, launchBrowser, openPage, screenshot } from './browser.ts'

if (chromiumMissing !== false) {
  t.plan(0, chromiumMissing)
} else {
  // No CORS origin for the pages: they come from the gateway itself and call it same-origin.
  const herald = await startHerald(t, { GATEWAY_CORS_ORIGINS: '' })
  const pages = herald.gatewayUrl
  const browser = await launchBrowser(t)
  const random = seededRandom(9)
  const WAIT = { timeout: 30_000 }

  const send = async (id: string, body: RegistrationEventBody): Promise<void> => {
    const answer = await herald.producer.registrationEvent(id, body)
    if (answer.status !== 200) throw new Error(`registration event refused: ${answer.status} ${answer.code}`)
  }
  const stage = (id: string, name: string, status: 'started' | 'completed') =>
    send(id, { type: 'stage', stage: name, status, message: `${name.replaceAll('_', ' ')} ${status}` })

  t.test('the dashboard shows a registration\'s stages in order and its final status', async (t) => {
    const { page, errors } = await openPage(browser, `${pages}/?token=${herald.adminToken}`)
    await page.waitForSelector('#feed-registrations[data-state=live]', WAIT)
    t.equal(new URL(page.url()).searchParams.get('token'), null, 'the token is taken out of the address bar')

    const id = 'browser-reg-1'
    const card = `[data-registration-id="${id}"]`
    const sequence: Array<[string, 'started' | 'completed']> = [
      ['duplicate_check', 'started'], ['duplicate_check', 'completed'], ['core_banking_lookup', 'started'],
      ['core_banking_lookup', 'completed'], ['status_update', 'started'], ['status_update', 'completed']
    ]
    for (const [name, status] of sequence) {
      await stage(id, name, status)
      // Each step is on screen before the next is sent: the page follows the registration as it moves.
      await page.waitForSelector(`${card} [data-stage=${name}][data-status=${status}]`, WAIT)
    }
    t.equal(await page.getAttribute(`${card} [role=progressbar]`, 'aria-valuenow'), '100')
    await send(id, { type: 'final', status: 'APPROVED', message: 'Registration approved' })
    await page.waitForSelector(`${card}[data-final=APPROVED]`, WAIT)

    t.same(await page.$$eval(`${card} [data-stage]`, (nodes) => nodes.map((n) => `${n.getAttribute('data-stage')}:${n.getAttribute('data-status')}`)),
      ['duplicate_check:completed', 'core_banking_lookup:completed', 'status_update:completed'])
    const feed = await page.$$eval(`#activity li[data-entity-id="${id}"]`, (rows) => rows.map((r) => r.getAttribute('data-status')).reverse())
    t.same(feed, ['started', 'completed', 'started', 'completed', 'started', 'completed', 'APPROVED'], 'the activity feed lists every event in order')

    await page.selectOption('#filter-status', 'APPROVED')
    t.equal(await page.locator(card).count(), 1, 'the status filter keeps an approved registration')
    await page.selectOption('#filter-status', 'REJECTED')
    t.equal(await page.locator(card).count(), 0, 'and hides it under another status')
    await page.selectOption('#filter-status', '')
    await screenshot(page, 'dashboard-registration')
    t.same(errors, [], 'no uncaught errors in the page')
    await page.close()
  })

  t.test('the checkout page turns to success after the Daraja callback', async (t) => {
    const plan = planOrder(random, 'browser-order-1', 1)
    plan.channel = 'daraja'
    plan.order = { ...plan.order, provider: 'mpesa', references: { checkoutRequestId: 'ws_CO_browser_1', merchantRequestId: '1-2-3' } }
    plan.payment = { outcome: 'completed', resultCode: 0, resultDesc: 'The service request is processed successfully.', delaySeconds: 0 }
    const answer = await herald.producer.upsertOrder(plan.orderId, plan.order)
    t.equal(answer.status, 200)
    const token = answer.body!.subscribeToken
    const { page, errors } = await openPage(browser, `${pages}/demo/checkout?orderId=${plan.orderId}&token=${encodeURIComponent(token)}&timeout=20000`)
    await page.waitForSelector('#panel[data-state=waiting]', WAIT)
    await screenshot(page, 'checkout-waiting')
    await herald.producer.mpesaCallback(darajaCallback(plan, random))
    await page.waitForSelector('#panel[data-state=success]', WAIT)
    t.match(await page.textContent('#title'), /Payment received/)
    t.match(await page.textContent('#message'), new RegExp(plan.order.customer.firstName))
    t.not(await page.textContent('#receipt'), '', 'shows the M-PESA receipt')
    await screenshot(page, 'checkout-success')
    t.same(errors, [])
    await page.close()
  })

  t.test('the dashboard\'s live connection survives a gateway restart and shows no gap', async (t) => {
    const { page, errors } = await openPage(browser, `${pages}/?token=${herald.adminToken}`)
    await page.waitForSelector('#feed-registrations[data-state=live]', WAIT)
    const id = 'browser-reg-restart'
    const card = `[data-registration-id="${id}"]`
    await stage(id, 'duplicate_check', 'started')
    await page.waitForSelector(`${card} [data-stage=duplicate_check][data-status=started]`, WAIT)

    await herald.stopGateway()
    await page.waitForSelector('#feed-registrations:not([data-state=live])', WAIT)
    await screenshot(page, 'dashboard-reconnecting')
    // Sent while no gateway runs: the page must show them once it is back.
    await stage(id, 'duplicate_check', 'completed')
    await stage(id, 'core_banking_lookup', 'started')
    await herald.startGateway()
    await page.waitForSelector('#feed-registrations[data-state=live]', WAIT)
    await stage(id, 'core_banking_lookup', 'completed')
    await stage(id, 'status_update', 'started')
    await stage(id, 'status_update', 'completed')
    await send(id, { type: 'final', status: 'REJECTED', message: 'Registration rejected' })
    await page.waitForSelector(`${card}[data-final=REJECTED]`, WAIT)

    t.same(await page.$$eval(`${card} [data-stage]`, (nodes) => nodes.map((n) => `${n.getAttribute('data-stage')}:${n.getAttribute('data-status')}`)),
      ['duplicate_check:completed', 'core_banking_lookup:completed', 'status_update:completed'], 'no stage is missing')
    const statuses = await page.$$eval(`#activity li[data-entity-id="${id}"]`, (rows) => rows.map((r) => r.getAttribute('data-status')).reverse())
    t.same(statuses, ['started', 'completed', 'started', 'completed', 'started', 'completed', 'REJECTED'], 'the feed has every event, in order, once')
    await screenshot(page, 'dashboard-after-restart')
    t.same(errors, [])
    await page.close()
  })

  t.test('simulated traffic brings the dashboard to life: every registration reaches its verdict and every payment its status on screen', async (t) => {
    const { page, errors } = await openPage(browser, `${pages}/?token=${herald.adminToken}`)
    await page.waitForSelector('#feed-registrations[data-state=live]', WAIT)
    await page.waitForSelector('#feed-orders[data-state=live]', WAIT)
    const summary = await runSimulation(herald.target, {
      orders: 12, registrations: 10, rate: 8, durationSeconds: undefined, speed: 6, duplicateRate: 0.05, earlyCallbackRate: 0, seed: 77, verify: true, runId: 'browser'
    })
    t.same(summary.failedCalls, {})
    t.same(summary.verification?.mismatches, [], 'the gateway reports what every simulated payment should have produced')
    const verdicts = Object.values(summary.registrations.byStatus).reduce((a, b) => a + b, 0)
    await page.waitForFunction((n) => document.querySelectorAll('[data-registration-id^="sim-browser-r"][data-final]').length === n, verdicts, WAIT)

    // What the gateway says each order ended as; the Payments column must show the same, from the all-orders feed.
    const expected: Record<string, string> = {}
    for (let sequence = 1; sequence <= summary.orders.started; sequence++) {
      const orderId = `sim-browser-o${sequence}`
      const response = await fetch(`${herald.gatewayUrl}/api/orders/${orderId}`, { headers: { authorization: `Bearer ${herald.adminToken}` } })
      expected[orderId] = ((await response.json()) as OrderSnapshotResponse).paymentStatus
    }
    t.equal(Object.keys(expected).length, 12)
    const shown = () => page.$$eval('#orders tr[data-order-id^="sim-browser-o"]', (rows) =>
      Object.fromEntries(rows.map((row) => [row.getAttribute('data-order-id'), row.getAttribute('data-payment-status')])))
    await page.waitForFunction((want) => {
      const rows = document.querySelectorAll('#orders tr[data-order-id^="sim-browser-o"]')
      return rows.length === Object.keys(want).length &&
        [...rows].every((row) => want[row.getAttribute('data-order-id')!] === row.getAttribute('data-payment-status'))
    }, expected, WAIT).catch(async (err: unknown) => {
      t.same(await shown(), expected, 'the Payments column')
      throw err
    })
    t.same(await shown(), expected, 'every simulated payment is in the Payments column with its final status')
    t.ok(await page.locator('#activity li[data-kind=order]').count() >= 12, 'payments are in the activity feed too')
    // The page's own two feeds at least: /api/stats answers the header's counters.
    await page.waitForFunction(() => Number(document.getElementById('stat-streams')?.textContent) >= 2, undefined, WAIT)

    // The charts: what the gateway's stats say about the last two minutes, drawn as SVG lines.
    const stats = await (await fetch(`${herald.gatewayUrl}/api/stats`, { headers: { authorization: `Bearer ${herald.adminToken}` } })).json() as GatewayStatsResponse
    t.ok(stats.activity.points.some((point) => point.eventsPerSecond > 0), 'the gateway counted the simulated events per second')
    t.ok(stats.activity.points.some((point) => point.latencyP99Seconds !== null), 'and measured their delivery latency')
    const line = (series: string) => page.$eval(`#charts path[data-series=${series}]`, (path) => ({
      points: Number(path.getAttribute('data-points')),
      ys: [...(path.getAttribute('d') ?? '').matchAll(/[ML][\d.]+,([\d.]+)/g)].map((match) => Number(match[1]))
    }))
    await page.waitForFunction(() => Number(document.querySelector('#chart-rate path[data-series=rate]')?.getAttribute('data-points')) > 1, undefined, WAIT)
    const rate = await line('rate')
    t.equal(rate.ys.length, rate.points, 'the rate line has a vertex per point')
    t.ok(rate.ys.some((y) => y < 80), 'and rises above zero (the chart is 80 high)')
    for (const series of ['p50', 'p99']) {
      const latency = await line(series)
      t.ok(latency.points >= 1 && latency.ys.length === latency.points, `the ${series} line has the steps with deliveries`)
    }
    t.match(await page.textContent('#now-p99'), /^[\d.]+ ms$/, 'the latest p99 is shown beside the chart')
    t.notOk(await page.locator('#charts').isHidden(), 'the charts are shown')
    await screenshot(page, 'dashboard-simulation')
    t.same(errors, [])
    await page.close()
  })
}
