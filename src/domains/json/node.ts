import { z } from 'zod'
import type { JsonReducer, JsonState, JsonSummary } from '../../core/json/domain.ts'
import type { NodePart } from '../plugin.ts'
import { createJsonActions, type JsonActions } from './actions.ts'
import { createJsonLive, type JsonIndex } from './live.ts'
import { jsonWebPart } from './pages.ts'
import { jsonRoutes } from './routes.ts'

declare module '../../node/node.ts' {
  interface NodeExtensions {
    /** The node's JSON documents (after `start`). */
    readonly jsonDocs: JsonIndex
    /** JSON document ops signed for local accounts (after `start`). */
    readonly jsonActions: JsonActions
  }
}

/** `[domains.json]` in config.toml: the change feeds' bounds. */
const jsonSettings = z
  .object({
    /** Change feeds (SSE streams) open at once on the node. */
    max_streams: z.number().int().min(1).max(100_000).default(64),
    /** Milliseconds between keep-alive comments on an idle change feed. */
    keepalive_ms: z.number().int().min(100).max(600_000).default(15_000),
    /** Versions of each followed document whose text splices are kept to rebase `/text` edits. */
    ring_versions: z.number().int().min(1).max(100_000).default(1000),
  })
  .strict()

/**
 * The node side of JSON documents: actions for local accounts, the `/json` routes and the
 * documents' change feed (a service, started after the document index).
 */
export const jsonNode: NodePart<JsonState, JsonReducer, JsonSummary> = {
  settings: jsonSettings,
  create({ config, logger, ledger, accounts, index, indexes, settings }) {
    const s = settings as z.infer<typeof jsonSettings>
    const actions = createJsonActions(ledger, index, indexes)
    const live = createJsonLive({
      ledger,
      index,
      logger: logger.child({ part: 'json.live' }),
      maxStreams: s.max_streams,
      keepAliveMs: s.keepalive_ms,
      ringVersions: s.ring_versions,
    })
    return {
      extend: { jsonDocs: index, jsonActions: actions },
      routes: [
        jsonRoutes({ index, actions, live, ledger, accounts, bodyLimit: config.http.bodyLimit }),
      ],
      services: [live],
      web: jsonWebPart({ node: config.name, index }),
      status: () => {
        let changes = 0
        const documents = index.list()
        for (const d of documents) changes += d.changes
        return { documents: documents.length, changes, streams: live.streams }
      },
    }
  },
}
