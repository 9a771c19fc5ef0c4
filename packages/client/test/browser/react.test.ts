// The React hooks in Chromium against a real Herald: a component follows a registration and an order live.
import t from 'tap'
import { build } from 'esbuild'
import { fileURLToPath } from 'node:url'
import { darajaCallback, planOrder, seededRandom } from '@herald/simulator'
import { startHerald } from '../herald.ts'
import { chromiumMissing, launchBrowser, openProbePage, screenshot } from './browser.ts'

if (chromiumMissing !== false) {
  t.plan(0, chromiumMissing)
} else {
  t.test('useRegistrationUpdates and useOrderStatus report connection, stages, progress and the final states', async (t) => {
    const herald = await startHerald(t)
    const browser = await launchBrowser(t)
    const random = seededRandom(21)
    const WAIT = { timeout: 30_000 }

    const bundle = await build({
      entryPoints: [fileURLToPath(new URL('./react-probe.tsx', import.meta.url))],
      bundle: true,
      format: 'esm',
      platform: 'browser',
      write: false,
      jsx: 'automatic',
      define: { 'process.env.NODE_ENV': '"production"' },
      logLevel: 'silent'
    })

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
    await page.addScriptTag({ content: bundle.outputFiles[0]!.text, type: 'module' })

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
}
