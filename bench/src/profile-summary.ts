// Reads a V8 .cpuprofile and lists where the time went (self time per function), for the report.
import { readFile } from 'node:fs/promises'

interface ProfileNode {
  id: number
  callFrame: { functionName: string, url: string, lineNumber: number }
  children?: number[]
}

interface CpuProfile {
  nodes: ProfileNode[]
  startTime: number
  endTime: number
  samples: number[]
  timeDeltas: number[]
}

export interface HotFunction {
  name: string
  selfMs: number
  selfPercent: number
}

function label (frame: ProfileNode['callFrame']): string {
  const name = frame.functionName === '' ? '(anonymous)' : frame.functionName
  if (frame.url === '') return name
  // Keep the package and file, drop the machine's path.
  const url = frame.url.replace(/^file:\/\//, '')
  const modules = url.lastIndexOf('node_modules/')
  const short = modules >= 0 ? url.slice(modules + 'node_modules/'.length).replace(/^\.pnpm\/[^/]+\/node_modules\//, '') : url.split('/').slice(-3).join('/')
  return `${name} ${short}:${frame.lineNumber + 1}`
}

/** Which package a frame belongs to: an npm package, a Herald workspace package, node itself, or native code. */
function owner (frame: ProfileNode['callFrame']): string {
  const url = frame.url
  if (url === '') return frame.functionName.startsWith('(') ? frame.functionName : '(native: syscalls, C++)'
  if (url.startsWith('node:')) return 'node core'
  const modules = url.lastIndexOf('node_modules/')
  if (modules >= 0) {
    const parts = url.slice(modules + 'node_modules/'.length).split('/')
    return parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]
  }
  const herald = /\/(services|packages|bench)\/([^/]+)\//.exec(url)
  return herald === null ? 'other' : `${herald[1]}/${herald[2]}`
}

export async function hotFunctions (path: string, top = 15): Promise<{ totalMs: number, idlePercent: number, functions: HotFunction[], byPackage: HotFunction[] }> {
  const profile = JSON.parse(await readFile(path, 'utf8')) as CpuProfile
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const selfUs = new Map<string, number>()
  const packageUs = new Map<string, number>()
  let total = 0
  let idle = 0
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0
    const node = byId.get(id)
    if (node === undefined) return
    total += delta
    const name = label(node.callFrame)
    if (node.callFrame.functionName === '(idle)') idle += delta
    selfUs.set(name, (selfUs.get(name) ?? 0) + delta)
    const pkg = owner(node.callFrame)
    packageUs.set(pkg, (packageUs.get(pkg) ?? 0) + delta)
  })
  const rank = (entries: Map<string, number>, n: number): HotFunction[] => [...entries.entries()]
    .filter(([name]) => name !== '(idle)')
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([name, us]) => ({ name, selfMs: Math.round(us / 100) / 10, selfPercent: total === 0 ? 0 : Math.round((us / total) * 1000) / 10 }))
  return { totalMs: Math.round(total / 1000), idlePercent: total === 0 ? 0 : Math.round((idle / total) * 1000) / 10, functions: rank(selfUs, top), byPackage: rank(packageUs, 10) }
}
