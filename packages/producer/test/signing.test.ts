import t from 'tap'
import { Webhook } from 'standardwebhooks'
import { signStandardWebhook } from '../src/signing.ts'

t.test('signed headers verify per Standard Webhooks with the same secret, each call with its own id', async (t) => {
  const secret = `whsec_${Buffer.from('producer-test-secret-0123456789a').toString('base64')}`
  const body = JSON.stringify({ type: 'stage', stage: 'intake', status: 'started' })
  const headers = signStandardWebhook(secret, body)
  t.same(new Webhook(secret).verify(body, headers), JSON.parse(body))
  t.not(signStandardWebhook(secret, body)['webhook-id'], headers['webhook-id'])
  const at = new Date('2026-01-01T00:00:00Z')
  t.same(signStandardWebhook(secret, body, { id: 'msg_1', timestamp: at }), signStandardWebhook(secret, body, { id: 'msg_1', timestamp: at }), 'the same id and time sign the same')
  t.equal(signStandardWebhook(secret, body, { id: 'msg_1', timestamp: at })['webhook-timestamp'], '1767225600')
})
