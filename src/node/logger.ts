import { type Logger, pino } from 'pino'

/** pino's numeric levels, as people read them. */
const LEVELS: Readonly<Record<number, string>> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
}

/** Fields every line has, left out of the `key=value` tail. */
const OMITTED = new Set(['level', 'time', 'msg', 'node', 'pid', 'hostname'])

/**
 * One JSON log line as a person reads it on a terminal: time, level, message, then the other
 * fields as `key=value` (an error as its message).
 * @example
 * formatHumanLine('{"level":30,"time":0,"msg":"node ready","ms":399}') // '00:00:00 INFO  node ready ms=399'
 */
export function formatHumanLine(json: string): string {
  let entry: Record<string, unknown>
  try {
    entry = JSON.parse(json) as Record<string, unknown>
  } catch {
    return json
  }
  const time = new Date(Number(entry.time ?? 0)).toISOString().slice(11, 19)
  const level = (LEVELS[Number(entry.level)] ?? String(entry.level)).padEnd(5)
  const fields = Object.entries(entry)
    .filter(([key]) => !OMITTED.has(key))
    .map(([key, value]) => `${key}=${formatValue(value)}`)
  return [time, level, String(entry.msg ?? ''), ...fields].join(' ')
}

function formatValue(value: unknown): string {
  if (typeof value === 'string') return /[\s"=]/.test(value) ? JSON.stringify(value) : value
  if (value && typeof value === 'object' && 'message' in value)
    return JSON.stringify((value as { message: unknown }).message)
  return JSON.stringify(value)
}

/**
 * The logger of a node run from the command line: JSON lines on stdout (one object a line, for
 * log collectors) unless `human` (stdout is a terminal), then lines formatted for people.
 */
export function nodeLogger({
  level,
  node,
  human = process.stdout.isTTY === true,
}: {
  level: string
  node: string
  human?: boolean
}): Logger {
  const options = { level, base: { node } }
  if (!human) return pino(options)
  return pino(options, {
    write(line: string) {
      process.stdout.write(`${formatHumanLine(line.trimEnd())}\n`)
    },
  })
}
