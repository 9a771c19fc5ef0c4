import t from 'tap'
import { signSubscribeToken, tokenGrants, verifySubscribeToken } from '../src/subscribe-token.js'

const secret = 'test-secret'

t.test('a signed token verifies and grants only its entity', async (t) => {
  const token = signSubscribeToken(secret, { scope: 'order', id: 'ord_1', exp: Date.now() + 60_000 })
  const claims = verifySubscribeToken([secret], token)
  t.match(claims, { scope: 'order', id: 'ord_1' })
  t.ok(tokenGrants(claims, 'order', 'ord_1'))
  t.notOk(tokenGrants(claims, 'order', 'ord_2'), 'another order is refused')
  t.notOk(tokenGrants(claims, 'registration', 'ord_1'), 'another kind of entity is refused')
})

t.test('expired, forged and malformed tokens are refused', async (t) => {
  const expired = signSubscribeToken(secret, { scope: 'order', id: 'ord_1', exp: Date.now() - 1 })
  t.equal(verifySubscribeToken([secret], expired), null, 'expired')
  const forged = signSubscribeToken('other-secret', { scope: 'admin', id: '*', exp: Date.now() + 60_000 })
  t.equal(verifySubscribeToken([secret], forged), null, 'signed with another secret')
  const good = signSubscribeToken(secret, { scope: 'order', id: 'ord_1', exp: Date.now() + 60_000 })
  const [prefix, , sig] = good.split('.')
  const tampered = `${prefix}.${Buffer.from(JSON.stringify({ s: 'admin', i: '*', e: Date.now() + 60_000 })).toString('base64url')}.${sig}`
  t.equal(verifySubscribeToken([secret], tampered), null, 'payload swapped')
  for (const junk of ['', 'hst1', 'hst1..', 'a.b.c', 'x'.repeat(5000)]) {
    t.equal(verifySubscribeToken([secret], junk), null, `junk ${junk.slice(0, 10)}`)
  }
})

t.test('rotation: a token signed with an older secret still verifies', async (t) => {
  const token = signSubscribeToken('old', { scope: 'registration', id: '42', exp: Date.now() + 60_000 })
  t.match(verifySubscribeToken(['new', 'old'], token), { scope: 'registration', id: '42' })
  t.ok(tokenGrants(verifySubscribeToken(['new'], signSubscribeToken('new', { scope: 'admin', id: '*', exp: Date.now() + 1000 })), 'registration', '42'), 'admin opens everything')
})

t.test('a token is exactly its canonical encoding: junk appended or spare bits changed is refused', async (t) => {
  const token = signSubscribeToken(secret, { scope: 'order', id: 'ord_1', exp: Date.now() + 60_000 })
  t.ok(verifySubscribeToken([secret], token), 'the token as minted verifies')
  const [prefix, payload, signature] = token.split('.') as [string, string, string]
  const variants: Array<[string, string]> = [
    ['junk after the signature', `${token}!!`],
    ['padding after the signature', `${token}=`],
    ['a space after the signature', `${token} `],
    ['junk inside the payload', `${prefix}.${payload}!.${signature}`],
    ['standard base64 characters', `${prefix}.${payload}.${signature.replaceAll('-', '+').replaceAll('_', '/')}x`]
  ]
  // The last of 43 characters carries 4 bits of the MAC and 2 spare bits: flip a spare bit, same bytes.
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
  const last = alphabet.indexOf(signature.at(-1)!)
  variants.push(['a spare bit of the last character flipped', `${prefix}.${payload}.${signature.slice(0, -1)}${alphabet[last ^ 1]}`])
  for (const [name, variant] of variants) {
    t.not(variant, token)
    t.equal(verifySubscribeToken([secret], variant), null, name)
  }
})
