// The M-PESA source-IP allow-list. The caller's address is `request.ip`: Fastify's trustProxy, from
// TRUSTED_PROXIES, decides when an X-Forwarded-For is believed.
import { BlockList, isIP } from 'node:net'

/** The address as written: IPv4 peers of a dual-stack socket lose their ::ffff: prefix. */
export function plainAddress (ip: string): string {
  const trimmed = ip.trim()
  // Node reports IPv4 peers on dual-stack sockets as ::ffff:a.b.c.d.
  return trimmed.toLowerCase().startsWith('::ffff:') && isIP(trimmed.slice(7)) === 4 ? trimmed.slice(7) : trimmed
}

function blockListOf (entries: readonly string[], variable: string): BlockList {
  const list = new BlockList()
  for (const entry of entries) {
    const [address, bits] = entry.split('/') as [string, string | undefined]
    const family = isIP(plainAddress(address))
    if (family === 0) throw new Error(`${variable}: not an IP address or CIDR: ${entry}`)
    const type = family === 4 ? 'ipv4' : 'ipv6'
    if (bits === undefined) list.addAddress(plainAddress(address), type)
    else {
      const prefix = Number(bits)
      if (!Number.isInteger(prefix) || prefix < 0 || prefix > (family === 4 ? 32 : 128)) throw new Error(`${variable}: bad prefix length in ${entry}`)
      list.addSubnet(plainAddress(address), prefix, type)
    }
  }
  return list
}

export class SourceIpPolicy {
  readonly #allowed: BlockList | null

  /** `allowed` empty allows every source. */
  constructor (allowed: readonly string[]) {
    this.#allowed = allowed.length === 0 ? null : blockListOf(allowed, 'MPESA_ALLOWED_IPS')
  }

  allows (ip: string): boolean {
    if (this.#allowed === null) return true
    const address = plainAddress(ip)
    const family = isIP(address)
    return family !== 0 && this.#allowed.check(address, family === 4 ? 'ipv4' : 'ipv6')
  }
}
