import t from 'tap'
import { Webhook } from 'standardwebhooks'
import { checkWebhook, signWebhook, webhookSecretKey } from '../src/standard-webhooks.ts'

const secret = `whsec_${Buffer.from('contracts-test-secret-0123456789').toString('base64')}`
const other = `whsec_${Buffer.from('another-secret-0123456789abcdefg').toString('base64')}`
const body = JSON.stringify({ type: 'stage', stage: 'intake', status: 'started' })
const now = 1_767_225_600

t.test('signs what the standardwebhooks package signs, and accepts what it signs', async (t) => {
  const at = new Date(now * 1000)
  t.equal(signWebhook(webhookSecretKey(secret), 'msg_1', now, body), new Webhook(secret).sign('msg_1', at, body))
  const headers = { 'webhook-id': 'msg_2', 'webhook-timestamp': String(now), 'webhook-signature': new Webhook(secret).sign('msg_2', at, body) }
  t.same(checkWebhook([webhookSecretKey(secret)], 'msg_2', String(now), headers['webhook-signature'], body, now), { ok: true })
  t.equal(webhookSecretKey(secret.slice('whsec_'.length)).export().length, webhookSecretKey(secret).export().length, 'the prefix is optional')
})

t.test('refuses a wrong key, a changed body, a stale or future timestamp and malformed headers', async (t) => {
  const key = webhookSecretKey(secret)
  const signature = signWebhook(key, 'msg_1', now, body)
  t.same(checkWebhook([webhookSecretKey(other)], 'msg_1', String(now), signature, body, now), { ok: false, reason: 'mismatch' })
  t.same(checkWebhook([key], 'msg_1', String(now), signature, `${body} `, now), { ok: false, reason: 'mismatch' })
  t.same(checkWebhook([key], 'msg_9', String(now), signature, body, now), { ok: false, reason: 'mismatch' }, 'the id is signed')
  t.same(checkWebhook([key], 'msg_1', String(now), signature, body, now + 301), { ok: false, reason: 'stale' })
  t.same(checkWebhook([key], 'msg_1', String(now), signature, body, now - 301), { ok: false, reason: 'stale' })
  t.same(checkWebhook([key], 'msg_1', String(now), signature, body, now + 299), { ok: true }, 'within five minutes')
  t.same(checkWebhook([key], 'msg_1', 'soon', signature, body, now), { ok: false, reason: 'malformed' })
  t.same(checkWebhook([key], 'msg_1', String(now), signature.replace('v1,', 'v2,'), body, now), { ok: false, reason: 'malformed' })
  t.same(checkWebhook([key], 'msg_1', String(now), 'v1,AAAA', body, now), { ok: false, reason: 'mismatch' }, 'a short signature is no match')
  t.throws(() => webhookSecretKey('whsec_not base64!'), /whsec_ followed by base64/)
})

t.test('any signature of the list may match any key: both sides of a rotation', async (t) => {
  const signatures = [signWebhook(webhookSecretKey(other), 'msg_1', now, body), signWebhook(webhookSecretKey(secret), 'msg_1', now, body)].join(' ')
  t.same(checkWebhook([webhookSecretKey(secret)], 'msg_1', String(now), signatures, body, now), { ok: true })
  t.same(checkWebhook([webhookSecretKey('whsec_' + Buffer.from('x'.repeat(32)).toString('base64')), webhookSecretKey(other)], 'msg_1', String(now), signatures, body, now), { ok: true })
  t.ok(new Webhook(secret).verify(body, { 'webhook-id': 'msg_1', 'webhook-timestamp': String(Math.floor(Date.now() / 1000)), 'webhook-signature': [signWebhook(webhookSecretKey(other), 'msg_1', Math.floor(Date.now() / 1000), body), signWebhook(webhookSecretKey(secret), 'msg_1', Math.floor(Date.now() / 1000), body)].join(' ') }), 'the package accepts a list Herald signs with two secrets')
})
