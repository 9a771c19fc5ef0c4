import t from 'tap'
import { maskPersonalData, maskText } from '../src/index.js'

t.test('emails keep their first letter and domain', async (t) => {
  t.equal(maskText('jane.doe@example.com'), 'j***@example.com')
  t.equal(maskText('mail jane@example.co.ke now'), 'mail j***@example.co.ke now')
})

t.test('phone numbers keep only their first and last digits', async (t) => {
  const masked = maskText('call 254708374149 please')
  t.notMatch(masked, /254708374149/)
  t.match(masked, /254\*+149/)
  t.equal(maskText('order 42 costs 1500'), 'order 42 costs 1500', 'short numbers are not phones')
})

t.test('digits inside identifiers are references, not phone numbers, and stay intact', async (t) => {
  t.equal(maskText('ws_CO_171120221557301234'), 'ws_CO_171120221557301234')
  t.equal(maskText('UFD004453187.iI'), 'UFD004453187.iI')
  t.equal(maskText('QKX0123456789'), 'QKX0123456789')
  t.match(maskText('phone: 254708374149'), /254\*+149/)
  t.match(maskText('+254708374149'), /\+254\*+149/)
})

t.test('Daraja PhoneNumber items and phone-like keys are masked, other values kept', async (t) => {
  const masked = maskPersonalData({
    Body: {
      stkCallback: {
        CallbackMetadata: {
          Item: [
            { Name: 'Amount', Value: 1 },
            { Name: 'PhoneNumber', Value: 254708374149 }
          ]
        }
      }
    },
    Phone: '0712345678',
    customer: { email: 'jane@example.com' }
  }) as any
  const items = masked.Body.stkCallback.CallbackMetadata.Item
  t.equal(items[0].Value, 1)
  t.notMatch(String(items[1].Value), /708374/)
  t.notMatch(masked.Phone, /2345/)
  t.equal(masked.customer.email, 'j***@example.com')
})

t.test('a deeply nested value does not blow the stack', async (t) => {
  let value: unknown = 'leaf'
  for (let i = 0; i < 10_000; i++) value = { next: value }
  t.doesNotThrow(() => maskPersonalData(value))
})
