// The live dashboard (`/`) and the demo checkout (`/demo/checkout`): the files of public/, served as they are.
import type { FastifyPluginAsync } from 'fastify'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import fastifyStatic, { type SetHeadersResponse } from '@fastify/static'

declare module 'fastify' {
  interface FastifySchema {
    /** Read by @fastify/swagger (service-kit's OpenAPI plugin), whose typings this package does not load. */
    hide?: boolean
  }
}

/**
 * The package's public/ folder: three levels up from this file both as src/routes/dashboard/index.ts
 * and as dist/routes/dashboard/index.js, in the repository and in a `pnpm deploy` folder alike.
 */
export const publicDir = fileURLToPath(new URL('../../../public/', import.meta.url))

/**
 * None of these files has a content hash in its name, so a browser must ask each time whether it
 * changed (a 304 thanks to the ETag): a stale herald-client.js next to a new dashboard.js breaks the page.
 */
function revalidate (res: SetHeadersResponse): void {
  res.setHeader('Cache-Control', 'no-cache')
}

const dashboardRoutes: FastifyPluginAsync = async (fastify) => {
  if (!existsSync(`${publicDir}index.html`)) {
    // The API does not need the pages: a package built without them still serves every client.
    fastify.log.warn({ publicDir }, 'dashboard files not found; / and /demo/checkout are not served')
    return
  }
  await fastify.register(fastifyStatic, {
    root: publicDir,
    // One route per file found at start-up (and `/` for index.html) instead of a catch-all: unknown
    // paths, /api/… included, keep answering the error body's 404, and only these files are ever read.
    wildcard: false,
    cacheControl: false,
    setHeaders: revalidate,
    // Pages and assets are not API: kept out of the OpenAPI document.
    schemaHide: true
  })
  fastify.get('/demo/checkout', { schema: { hide: true } }, (_request, reply) => reply.sendFile('demo/checkout.html'))
}

export default dashboardRoutes
