/** One benchmark figure, printed as one JSON line. */
export type Figure = {
  bench: string
  value: number
  unit: string
  /** The limit the figure is held against, measured in the same run. */
  limit: number
  [extra: string]: unknown
}

/** Prints a figure as a JSON line on stdout. */
export function report(figure: Figure): Figure {
  console.log(JSON.stringify(figure))
  return figure
}

/** Prints progress for people on stderr, keeping stdout machine-readable. */
export function progress(message: string): void {
  process.stderr.write(`# ${message}\n`)
}

/** Rounds to `digits` decimals. */
export function round(value: number, digits = 1): number {
  const f = 10 ** digits
  return Math.round(value * f) / f
}

/** Seconds elapsed since `start` (from `process.hrtime.bigint()`). */
export function secondsSince(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e9
}
