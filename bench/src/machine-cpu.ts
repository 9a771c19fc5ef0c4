// CPU time of the other processes a request goes through on this machine (Postgres backends, redis-server)
// and of the load generator itself, read from /proc: where the rest of a 2-core machine goes.
import { readdir, readFile } from 'node:fs/promises'
import { execFileSync } from 'node:child_process'

const ticksPerSecond = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
  } catch {
    return 100
  }
})()

export interface CpuReading { postgres: number, redis: number, client: number }

/** User+system CPU ms of every process whose command name is one of `names` (0 where /proc is absent). */
async function cpuOfCommands (names: ReadonlySet<string>): Promise<Map<string, number>> {
  const totals = new Map<string, number>([...names].map((name) => [name, 0]))
  let pids: string[]
  try {
    pids = (await readdir('/proc')).filter((entry) => /^\d+$/.test(entry))
  } catch {
    return totals
  }
  await Promise.all(pids.map(async (pid) => {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '')
    const open = stat.indexOf('(')
    const close = stat.lastIndexOf(')')
    if (open < 0 || close < 0) return
    const name = stat.slice(open + 1, close)
    if (!names.has(name)) return
    const fields = stat.slice(close + 2).split(' ')
    // utime and stime are fields 14 and 15 of stat; fields[0] here is field 3.
    const ticks = Number(fields[11]) + Number(fields[12])
    totals.set(name, totals.get(name)! + ticks * 1000 / ticksPerSecond)
  }))
  return totals
}

/** CPU ms used so far by Postgres (all its processes), Redis and this process. */
export async function machineCpu (): Promise<CpuReading> {
  const totals = await cpuOfCommands(new Set(['postgres', 'redis-server']))
  const own = process.cpuUsage()
  return { postgres: totals.get('postgres')!, redis: totals.get('redis-server')!, client: (own.user + own.system) / 1000 }
}
