// Reads a V8 heap snapshot and lists what fills the heap (self size by constructor), for the report:
// with N waiters held, the classes with about N or k·N instances are what each waiter costs.
import { readFile } from 'node:fs/promises'

interface HeapSnapshot {
  snapshot: { meta: { node_fields: string[], node_types: [string[], ...unknown[]] } }
  nodes: number[]
  strings: string[]
}

export interface HeapClass {
  name: string
  count: number
  selfBytes: number
}

export async function heapClasses (path: string, units: number, top = 20): Promise<{ units: number, totalBytes: number, classes: HeapClass[], perUnit: HeapClass[] }> {
  const snapshot = JSON.parse(await readFile(path, 'utf8')) as HeapSnapshot
  const fields = snapshot.snapshot.meta.node_fields
  const types = snapshot.snapshot.meta.node_types[0]
  const width = fields.length
  const typeAt = fields.indexOf('type')
  const nameAt = fields.indexOf('name')
  const sizeAt = fields.indexOf('self_size')
  const byClass = new Map<string, HeapClass>()
  let totalBytes = 0
  for (let i = 0; i < snapshot.nodes.length; i += width) {
    const type = types[snapshot.nodes[i + typeAt]]
    const size = snapshot.nodes[i + sizeAt]
    totalBytes += size
    // Objects and closures by constructor/function name; everything else by its type.
    const name = type === 'object' || type === 'closure' ? `${type === 'closure' ? 'closure ' : ''}${snapshot.strings[snapshot.nodes[i + nameAt]]}` : `(${type})`
    const entry = byClass.get(name) ?? { name, count: 0, selfBytes: 0 }
    entry.count++
    entry.selfBytes += size
    byClass.set(name, entry)
  }
  const sorted = [...byClass.values()].sort((a, b) => b.selfBytes - a.selfBytes)
  const perUnit = sorted.filter((c) => units > 0 && c.count >= units && !c.name.startsWith('(code')).slice(0, top)
  return { units, totalBytes, classes: sorted.slice(0, top), perUnit }
}
