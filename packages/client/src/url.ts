// Builds gateway URLs from a base URL that may or may not end with a slash or carry a path prefix.

export function gatewayUrl (baseUrl: string, path: string, query: Record<string, string | number | undefined>): string {
  const base = baseUrl.endsWith('/') ? baseUrl.slice(0, -1) : baseUrl
  const params = new URLSearchParams()
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined && value !== '') params.set(name, String(value))
  }
  const search = params.toString()
  return `${base}${path}${search === '' ? '' : `?${search}`}`
}
