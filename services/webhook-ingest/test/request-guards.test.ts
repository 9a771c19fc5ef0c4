import t from 'tap'
import Type from 'typebox'
import { createFastify } from '@herald/service-kit'
import { bodyCheckedByGuard } from '../src/routes/request-guards.js'

t.test('bodyCheckedByGuard leaves the body to the route\'s guard and still checks the params', async (t) => {
  const app = createFastify({ service: 'request-guards-test', logLevel: 'silent' })
  t.teardown(() => app.close())
  app.post('/things/:id', {
    schema: { params: Type.Object({ id: Type.String({ pattern: '^[a-z]+$' }) }), body: Type.Object({ n: Type.Integer() }) },
    validatorCompiler: bodyCheckedByGuard(app)
  }, async (request) => ({ body: request.body }))

  // No guard on this route, so a body the schema refuses shows that Fastify did not check it a second time.
  const unchecked = await app.inject({ method: 'POST', url: '/things/abc', payload: { n: 'not a number' } })
  t.equal(unchecked.statusCode, 200)
  t.same(unchecked.json(), { body: { n: 'not a number' } })

  const badParam = await app.inject({ method: 'POST', url: '/things/ABC', payload: { n: 1 } })
  t.equal(badParam.statusCode, 400, 'params still go to the instance\'s compiler')
})
