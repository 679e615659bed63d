/** Options of node-facing commands that people also write before the command, as with docker. */
const LEADING_OPTIONS = new Map([
  ['--node', true],
  ['--name', true],
  ['--data-dir', true],
  ['--key', true],
  ['--eth-key', true],
  ['--json', false],
])

/**
 * Moves node options written before the command (`rwa --node URL audit state x`) to after it,
 * where the command's own parser reads them (`rwa audit state x --node URL`). Anything else is
 * left as it is, so unknown options still get commander's error.
 */
export function hoistLeadingOptions(args: readonly string[]): string[] {
  const leading: string[] = []
  let i = 0
  while (i < args.length) {
    const [flag, inline] = args[i]!.split(/=(.*)/s, 2) as [string, string | undefined]
    const takesValue = LEADING_OPTIONS.get(flag)
    if (takesValue === undefined) break
    const width = takesValue && inline === undefined ? 2 : 1
    if (i + width > args.length) break
    leading.push(...args.slice(i, i + width))
    i += width
  }
  if (leading.length === 0 || i === args.length) return [...args]
  const rest = args.slice(i)
  const separator = rest.indexOf('--')
  return separator < 0
    ? [...rest, ...leading]
    : [...rest.slice(0, separator), ...leading, ...rest.slice(separator)]
}
