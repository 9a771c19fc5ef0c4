// The M-PESA source-IP allow-list, believing X-Forwarded-For only when the direct peer is a trusted proxy.
import { BlockList, isIP } from 'node:net'

function normalize (ip: string): string {
  const trimmed = ip.trim()
  // Node reports IPv4 peers on dual-stack sockets as ::ffff:a.b.c.d.
  return trimmed.toLowerCase().startsWith('::ffff:') && isIP(trimmed.slice(7)) === 4 ? trimmed.slice(7) : trimmed
}

function blockListOf (entries: readonly string[], variable: string): BlockList {
  const list = new BlockList()
  for (const entry of entries) {
    const [address, bits] = entry.split('/') as [string, string | undefined]
    const family = isIP(normalize(address))
    if (family === 0) throw new Error(`${variable}: not an IP address or CIDR: ${entry}`)
    const type = family === 4 ? 'ipv4' : 'ipv6'
    if (bits === undefined) list.addAddress(normalize(address), type)
    else {
      const prefix = Number(bits)
      if (!Number.isInteger(prefix) || prefix < 0 || prefix > (family === 4 ? 32 : 128)) throw new Error(`${variable}: bad prefix length in ${entry}`)
      list.addSubnet(normalize(address), prefix, type)
    }
  }
  return list
}

function contains (list: BlockList, ip: string): boolean {
  const address = normalize(ip)
  const family = isIP(address)
  if (family === 0) return false
  return list.check(address, family === 4 ? 'ipv4' : 'ipv6')
}

export class SourceIpPolicy {
  readonly #allowed: BlockList | null
  readonly #trusted: BlockList

  /** `allowed` empty allows every source; `trustedProxies` empty believes no X-Forwarded-For. */
  constructor (allowed: readonly string[], trustedProxies: readonly string[]) {
    this.#allowed = allowed.length === 0 ? null : blockListOf(allowed, 'MPESA_ALLOWED_IPS')
    this.#trusted = blockListOf(trustedProxies, 'TRUSTED_PROXIES')
  }

  /**
   * The caller's address: the peer, or, when the peer is a trusted proxy, the right-most X-Forwarded-For
   * hop that is not itself a trusted proxy (hops further left are whatever the client chose to send).
   */
  clientIp (peer: string, forwardedFor: string | string[] | undefined): string {
    let client = normalize(peer)
    if (forwardedFor === undefined || !contains(this.#trusted, client)) return client
    const hops = (Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor).split(',').map(normalize).filter(Boolean)
    for (let i = hops.length - 1; i >= 0; i--) {
      client = hops[i]!
      if (!contains(this.#trusted, client)) break
    }
    return client
  }

  allows (ip: string): boolean {
    return this.#allowed === null || contains(this.#allowed, ip)
  }
}
