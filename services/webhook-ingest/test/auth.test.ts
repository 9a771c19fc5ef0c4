import t from 'tap'
import { pathTokenMatches } from '../src/auth/path-token.js'
import { SourceIpPolicy } from '../src/auth/source-ip.js'
import { signStandardWebhook } from '@herald/producer'
import { StandardWebhookVerifier } from '../src/auth/standard-webhooks.js'
import { INTERNAL_SECRET } from './helper.js'

t.test('path tokens match exactly, whatever the length of the guess', async (t) => {
  t.ok(pathTokenMatches('secret-token-0123', 'secret-token-0123'))
  t.notOk(pathTokenMatches('secret-token-0123', 'secret-token-012'))
  t.notOk(pathTokenMatches('secret-token-0123', ''))
  t.notOk(pathTokenMatches('secret-token-0123', 'secret-token-0123-and-more'))
})

t.test('the source-IP policy: CIDRs, IPv4-mapped IPv6', async (t) => {
  const open = new SourceIpPolicy([])
  t.ok(open.allows('8.8.8.8'), 'an empty allow-list allows all')
  const policy = new SourceIpPolicy(['196.201.214.0/24', '2001:db8::/32'])
  t.ok(policy.allows('196.201.214.7'))
  t.ok(policy.allows('::ffff:196.201.214.7'))
  t.ok(policy.allows('2001:db8::1'))
  t.notOk(policy.allows('196.201.215.7'))
  t.notOk(policy.allows('not-an-ip'))
  t.throws(() => new SourceIpPolicy(['nope']), /MPESA_ALLOWED_IPS/)
  t.throws(() => new SourceIpPolicy(['196.201.214.0/33']), /MPESA_ALLOWED_IPS/)
})

t.test('Standard Webhooks: signatures verify, tampering, age and unknown secrets do not', async (t) => {
  const verifier = new StandardWebhookVerifier([INTERNAL_SECRET])
  const body = '{"hello":"world"}'
  const headers = signStandardWebhook(INTERNAL_SECRET, body, { id: 'msg_1' })
  t.same(verifier.verify(body, headers), { ok: true, webhookId: 'msg_1' })
  t.match(verifier.verify('{"hello":"there"}', headers), { ok: false, reason: /does not match/ })
  t.match(verifier.verify(body, { ...headers, 'webhook-id': 'msg_2' }), { ok: false }, 'the id is signed too')
  t.match(verifier.verify(body, signStandardWebhook(INTERNAL_SECRET, body, { timestamp: new Date(Date.now() - 6 * 60_000) })), { ok: false, reason: /tolerance/ })
  t.match(verifier.verify(body, signStandardWebhook(INTERNAL_SECRET, body, { timestamp: new Date(Date.now() + 6 * 60_000) })), { ok: false, reason: /tolerance/ })
  t.ok(verifier.verify(body, signStandardWebhook(INTERNAL_SECRET, body, { timestamp: new Date(Date.now() - 4 * 60_000) })).ok, 'within 5 minutes')
  t.match(verifier.verify(body, { 'webhook-id': 'x' }), { ok: false, reason: /missing/ })
  const other = `whsec_${Buffer.from('another-secret-0123456789abcdef').toString('base64')}`
  t.match(verifier.verify(body, signStandardWebhook(other, body)), { ok: false })
  t.ok(new StandardWebhookVerifier([other, INTERNAL_SECRET]).verify(body, headers).ok, 'any configured secret verifies')
})
