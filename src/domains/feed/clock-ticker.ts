import type { Logger } from 'pino'
import { FEED_OP } from '../../core/feed/ops.ts'
import { type Accounts, OPERATOR } from '../../node/accounts.ts'
import type { Startable } from '../../node/startable.ts'
import type { FeedActions, FeedIndex } from './actions.ts'

/**
 * Keeps the feeds' clocks going: a feed's clock reads the times its report signers stamp (see
 * src/core/feed/clock.ts), so every node whose operator is one of a feed's signers publishes a
 * `feed.clock` tick whenever its latest stamp in that feed is older than `tickMs` (its report
 * signatures stamp too, so a busy feed needs no ticks). Without ticks, attestations would be
 * refused as ahead of the clock once the signers had been quiet for a minute.
 */
export function createClockTicker({
  index,
  accounts,
  actions,
  logger,
  tickMs,
  now = Date.now,
}: {
  readonly index: FeedIndex
  readonly accounts: Accounts
  readonly actions: FeedActions
  readonly logger: Logger
  readonly tickMs: number
  readonly now?: () => number
}): Startable {
  let timer: NodeJS.Timeout | undefined
  let running: Promise<void> | undefined

  async function tick(): Promise<void> {
    const operator = accounts.get(OPERATOR)
    if (!operator) return
    const key = Buffer.from(operator.signer.publicKey).toString('hex')
    for (const { id } of index.list()) {
      const { machine } = await index.reducer(id)
      if (!machine.registry.signers.some((s) => s.key === key)) continue
      const latest = machine.clock.latest(key)
      if (latest !== undefined && now() - latest < tickMs) continue
      await actions.act(operator, id, FEED_OP.clock, {})
    }
  }

  return {
    name: 'feed.clock',
    start(): void {
      const run = () => {
        if (running) return
        running = tick()
          .catch((err: unknown) => logger.warn({ err }, 'could not tick a feed clock; retrying'))
          .finally(() => {
            running = undefined
          })
      }
      run()
      timer = setInterval(run, Math.max(250, Math.floor(tickMs / 4)))
      timer.unref()
    },
    async stop(): Promise<void> {
      clearInterval(timer)
      await running
    },
  }
}
