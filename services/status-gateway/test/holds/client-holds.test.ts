import t from 'tap'
import { ClientHolds } from '../../src/holds/client-holds.js'

t.test('a key at the cap refuses the next hold; a release frees exactly one slot', async (t) => {
  const holds = new ClientHolds(2)
  const a = holds.acquire(['address:1.2.3.4', 'token:x'])
  const b = holds.acquire(['address:1.2.3.4', 'token:y'])
  t.ok(a && b)
  t.equal(holds.acquire(['address:1.2.3.4', 'token:z']), null, 'the address is full, whatever the token')
  t.equal(holds.count('token:z'), 0, 'a refused hold takes no slot under its other keys')
  a!()
  a!()
  t.equal(holds.count('address:1.2.3.4'), 1, 'releasing twice frees one slot')
  t.ok(holds.acquire(['address:1.2.3.4']), 'the freed slot is taken again')
})

t.test('a token at the cap is refused from any address', async (t) => {
  const holds = new ClientHolds(1)
  t.ok(holds.acquire(['address:a', 'token:t']))
  t.equal(holds.acquire(['address:b', 'token:t']), null)
  t.ok(holds.acquire(['address:b', 'token:u']), 'another token from that address is fine')
})

t.test('released keys are forgotten; a cap of 0 counts nothing', async (t) => {
  const holds = new ClientHolds(3)
  const releases = Array.from({ length: 3 }, (_, i) => holds.acquire([`address:${i}`])!)
  t.equal(holds.keys, 3)
  for (const release of releases) release()
  t.equal(holds.keys, 0)
  const off = new ClientHolds(0)
  t.ok(Array.from({ length: 1000 }, () => off.acquire(['address:same'])).every((release) => release !== null), 'never refuses')
  t.equal(off.keys, 0)
})
