// The live dashboard (`/`) and the demo checkout (`/demo/checkout`): the files of public/, served as they are.
import type { FastifyPluginAsync } from 'fastify'
import { createHash } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
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

/** The pages served, by file: each gets a Content-Security-Policy built from its own inline code. */
const PAGES = ['index.html', 'demo/checkout.html']

const hashOf = (code: string) => `'sha256-${createHash('sha256').update(code).digest('base64')}'`
const inlineHashes = (html: string, pattern: RegExp) => [...html.matchAll(pattern)].map((match) => hashOf(match[1]!))

/**
 * A page may run only its own scripts and styles (files from this origin, or its inline blocks by hash,
 * computed here from the file so an edit cannot fall out of step), talk only to this origin, and never be
 * framed: an injected `<script>`, a `?gateway=` pointing elsewhere or a clickjacking frame are all refused
 * by the browser.
 */
export function pageSecurityPolicy (html: string): string {
  const scripts = inlineHashes(html, /<script(?![^>]*\bsrc=)[^>]*>([\s\S]*?)<\/script>/gi)
  const styles = inlineHashes(html, /<style[^>]*>([\s\S]*?)<\/style>/gi)
  return [
    "default-src 'self'",
    ["script-src 'self'", ...scripts].join(' '),
    ["style-src 'self'", ...styles].join(' '),
    "img-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'"
  ].join('; ')
}

/**
 * None of these files has a content hash in its name, so a browser must ask each time whether it
 * changed (a 304 thanks to the ETag): a stale herald-client.js next to a new dashboard.js breaks the page.
 * A page gets its own Content-Security-Policy in place of the API's `default-src 'none'`.
 */
function pageHeaders (policies: ReadonlyMap<string, string>) {
  return (res: SetHeadersResponse, path: string): void => {
    res.setHeader('Cache-Control', 'no-cache')
    const policy = policies.get(path)
    if (policy !== undefined) res.setHeader('Content-Security-Policy', policy)
  }
}

const dashboardRoutes: FastifyPluginAsync = async (fastify) => {
  if (!existsSync(`${publicDir}index.html`)) {
    // The API does not need the pages: a package built without them still serves every client.
    fastify.log.warn({ publicDir }, 'dashboard files not found; / and /demo/checkout are not served')
    return
  }
  const policies = new Map(PAGES.map((page) => [`${publicDir}${page}`, pageSecurityPolicy(readFileSync(`${publicDir}${page}`, 'utf8'))]))
  // @fastify/static hands `setHeaders` the raw response, and Fastify would write the API's policy, set on
  // the reply, over the page's own: the page's goes onto the reply too. Only these routes pay for it.
  fastify.addHook('onSend', (_request, reply, payload, done) => {
    const policy = reply.raw.getHeader('content-security-policy')
    if (policy !== undefined) reply.header('content-security-policy', policy)
    done(null, payload)
  })
  await fastify.register(fastifyStatic, {
    root: publicDir,
    // One route per file found at start-up (and `/` for index.html) instead of a catch-all: unknown
    // paths, /api/… included, keep answering the error body's 404, and only these files are ever read.
    wildcard: false,
    cacheControl: false,
    setHeaders: pageHeaders(policies),
    // Pages and assets are not API: kept out of the OpenAPI document.
    schemaHide: true
  })
  fastify.get('/demo/checkout', { schema: { hide: true } }, (_request, reply) => reply.sendFile('demo/checkout.html'))
}

export default dashboardRoutes
