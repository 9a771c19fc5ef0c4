// The React hooks in Chromium against a real Herald: a component follows a registration and an order live.
import t from 'tap'
import { build } from 'esbuild'
import { fileURLToPath } from 'node:url'
import { darajaCallback, planOrder, seededRandom } from '@herald/simulator'
import { startHerald } from '../herald.ts'
import { chromiumMissing, launchBrowser, openProbePage, screenshot } from './browser.ts'

/** A probe page's script, bundled with React for the browser. */
async function bundled (entry: string): Promise<string> {
  const result = await build({
    entryPoints: [fileURLToPath(new URL(entry, import.meta.url))],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    write: false,
    jsx: 'automatic',
    define: { 'process.env.NODE_ENV': '"production"' },
    logLevel: 'silent'
  })
  return result.outputFiles[0]!.text
}

if (chromiumMissing !== false) {
  t.plan(0, chromiumMissing)
} else {
  t.test('useRegistrationUpdates and useOrderStatus report connection, stages, progress and the final states', async (t) => {
    const herald = await startHerald(t)
    const browser = await launchBrowser(t)
    const random = seededRandom(21)
    const WAIT = { timeout: 30_000 }

    const bundle = await bundled('./react-probe.tsx')

    const registrationId = 'react-reg-1'
    const first = await herald.producer.registrationEvent(registrationId, { type: 'stage', stage: 'duplicate_check', status: 'started', message: 'checking' })
    const plan = planOrder(random, 'react-order-1', 1)
    plan.channel = 'daraja'
    plan.order = { ...plan.order, provider: 'mpesa', references: { checkoutRequestId: 'ws_CO_react_1' } }
    plan.payment = { outcome: 'cancelled', resultCode: 1032, resultDesc: 'Request cancelled by user', delaySeconds: 0 }
    const order = await herald.producer.upsertOrder(plan.orderId, plan.order)

    const { page, errors } = await openProbePage(browser, herald.gatewayUrl)
    await page.evaluate((probe) => { (window as any).heraldProbe = probe }, {
      gateway: herald.gatewayUrl,
      registrationId,
      registrationToken: first.body!.subscribeToken,
      orderId: plan.orderId,
      orderToken: order.body!.subscribeToken
    })
    await page.addScriptTag({ content: bundle, type: 'module' })

    // The hook replays what happened before the page opened: the first stage is already there.
    await page.waitForSelector('#registration[data-connected=true] [data-stage=duplicate_check][data-status=started]', { ...WAIT, state: 'attached' })
    await page.waitForSelector('#order[data-connected=true][data-status=pending]', { ...WAIT, state: 'attached' })
    for (const [stage, status] of [['duplicate_check', 'completed'], ['core_banking_lookup', 'started'], ['core_banking_lookup', 'completed']] as const) {
      await herald.producer.registrationEvent(registrationId, { type: 'stage', stage, status, message: `${stage} ${status}` })
    }
    await page.waitForSelector('#registration[data-progress="67"]', { ...WAIT, state: 'attached' })
    await herald.producer.registrationEvent(registrationId, { type: 'final', status: 'APPROVED', message: 'Registration approved' })
    await page.waitForSelector('#registration[data-final=APPROVED][data-progress="100"]', { ...WAIT, state: 'attached' })
    t.equal(await page.textContent('#latest'), 'Registration approved')
    t.same(await page.$$eval('#registration [data-stage]', (nodes) => nodes.map((n) => `${n.getAttribute('data-stage')}:${n.getAttribute('data-status')}`)),
      ['duplicate_check:completed', 'core_banking_lookup:completed', 'status_update:waiting'])

    await herald.producer.mpesaCallback(darajaCallback(plan, random))
    await page.waitForSelector('#order[data-status=cancelled][data-progress="100"]', { ...WAIT, state: 'attached' })
    await screenshot(page, 'react-hooks')
    t.same(errors, [])
  })

  t.test('the old call: useRegistrationUpdates({ registrationId, onUpdate, onConnected, onError, autoConnect: false })', async (t) => {
    const herald = await startHerald(t)
    const browser = await launchBrowser(t)
    const WAIT = { timeout: 30_000 }
    const bundle = await bundled('./react-legacy-probe.tsx')

    const stage = (name: string, status: 'started' | 'completed', message?: string) =>
      herald.producer.registrationEvent('42', { type: 'stage', stage: name, status, ...(message === undefined ? {} : { message }) })
    const first = await stage('duplicate_check', 'started')

    const { page, errors } = await openProbePage(browser, herald.gatewayUrl)
    await page.evaluate((probe) => {
      const w = window as any
      w.legacyProbe = probe
      // Counts the streams asked for, synchronously: the client calls fetch inside the hook's effect.
      w.streamRequests = []
      const fetch = window.fetch.bind(window)
      window.fetch = (input, init) => {
        const url = String(input instanceof Request ? input.url : input)
        // The token travels in the Authorization header: record it beside the URL to tell the probes apart.
        const headers = new Headers(input instanceof Request ? input.headers : init?.headers)
        if (url.includes('/updates/stream')) w.streamRequests.push(`${url} ${headers.get('authorization') ?? ''}`)
        return fetch(input, init)
      }
    }, { gateway: herald.gatewayUrl, registrationId: 42, token: first.body!.subscribeToken, adminToken: herald.adminToken })
    await page.addScriptTag({ content: bundle, type: 'module' })
    const seen = () => page.evaluate(() => (window as any).seen as { updates: string[], connected: number, errors: string[], feed: string[], feedConnected: number, refusedErrors: string[] })
    const streamRequests = () => page.evaluate(() => (window as any).streamRequests as string[])

    await page.waitForSelector('#legacy[data-mounted=true]', { ...WAIT, state: 'attached' })
    t.same((await streamRequests()).filter((url) => url.includes('registrationId=42') && !url.includes('not-a-token')), [], 'autoConnect: false opens nothing')
    t.equal(await page.getAttribute('#legacy', 'data-connected'), 'false')

    await page.waitForSelector('#all[data-connected=true]', { ...WAIT, state: 'attached' })
    t.equal((await seen()).feedConnected, 1, 'without registrationId the hook follows every registration')
    await page.waitForFunction(() => (window as any).seen.refusedErrors.length > 0, undefined, WAIT)
    t.same((await seen()).refusedErrors, ['HERALD_ERR_UNAUTHORIZED'], 'onError gets the refusal once: a bad token is not retried')

    await page.click('#connect')
    await page.waitForSelector('#legacy[data-connected=true]', { ...WAIT, state: 'attached' })
    t.equal((await seen()).connected, 1, 'onConnected after connect()')
    await page.waitForFunction(() => (window as any).seen.updates.length === 1, undefined, WAIT)

    await stage('duplicate_check', 'completed', 'No duplicate found')
    await herald.producer.registrationEvent('42', { type: 'final', status: 'APPROVED', message: 'Customer validated successfully', details: { accountsFound: 5 } })
    await page.waitForFunction(() => (window as any).seen.updates.length === 3, undefined, WAIT)
    t.same((await seen()).updates, [
      'duplicate_check|started: duplicate_check',
      'duplicate_check|No duplicate found',
      '|Customer validated successfully'
    ], 'onUpdate gets each update once, in order, the final one without a stage')
    t.equal(await page.textContent('#latest'), 'Customer validated successfully', 'latestUpdate')
    await page.waitForFunction(() => (window as any).seen.feed.length >= 2, undefined, WAIT)
    t.same((await seen()).feed, ['42|No duplicate found', '42|Customer validated successfully'], 'the all-registrations feed saw what happened while it was open')
    t.same((await seen()).errors, [])
    t.same(errors, [])
  })
}
