import { join } from 'node:path'
import type { AuditSummary } from '../../core/audit/domain.ts'
import type { AuditReducer } from '../../core/audit/reduce.ts'
import type { AuditState } from '../../core/audit/state.ts'
import { fileSaltStore } from '../../node/salt-store.ts'
import type { NodePart } from '../plugin.ts'
import { type AuditActions, createAuditActions } from './actions.ts'
import { type AuditIndex, withAuditQueries } from './audit-index.ts'
import { chainlinkRoutes } from './chainlink-routes.ts'
import { createAuditChat } from './chat.ts'
import { createAuditMoney } from './funding.ts'
import { AUDIT_JS, auditCard, auditPages } from './pages.ts'
import { PAYOUTS_JS } from './payouts-page.ts'
import { auditRoutes, payoutRoutes } from './routes.ts'
import { createSettler } from './settler.ts'

declare module '../../node/node.ts' {
  interface NodeExtensions {
    /** The node's audits (after `start`). */
    readonly audits: AuditIndex
    /** Audit actions signed for local accounts (after `start`). */
    readonly actions: AuditActions
  }
}

/**
 * The node side of audits: actions for local accounts, the `/audits` routes and the Chainlink
 * adapter routes, the settler (with a chain), the dashboard's audit pages and the RWA chat.
 */
export const auditNode: NodePart<AuditState, AuditReducer, AuditSummary> = {
  create({ config, logger, ledger, accounts, index, chain, metrics }) {
    const audits = withAuditQueries(index)
    const actions = createAuditActions({
      ledger,
      audits,
      salts: fileSaltStore(join(config.dataDir, 'keys', 'salts.json')),
    })
    const info = () => chain?.info
    const money = createAuditMoney(chain)
    const http = {
      audits,
      actions,
      accounts,
      ledger,
      money,
      bodyLimit: config.http.bodyLimit,
      chain: info,
      explorerUrl: config.explorerUrl,
    }
    return {
      extend: { audits, actions },
      routes: [
        auditRoutes(http),
        payoutRoutes(http),
        chainlinkRoutes({
          ...http,
          logger,
          // With the chat bot on, an audit registered for an admin JID gets a custodial account
          // for that JID, so the admin can run it by chat.
          accountForJid: (jid) => (config.xmpp ? accounts.custodialFor(jid) : accounts.byJid(jid)),
        }),
      ],
      services: chain
        ? [
            createSettler({
              ledger,
              audits,
              accounts,
              actions,
              chain,
              logger: logger.child({ part: 'settler' }),
              metrics: {
                transactions: metrics.counter({
                  name: 'settlement_transactions_total',
                  help: 'settle transactions this node sent to the escrow, by outcome (success, reverted, failed).',
                  labelNames: ['outcome'],
                }),
                gas: metrics.counter({
                  name: 'settlement_gas_total',
                  help: 'Gas used by the settle transactions this node sent.',
                }),
              },
            }),
          ]
        : [],
      web: {
        card: auditCard,
        pages: auditPages({
          node: config.name,
          audits,
          ledger,
          accounts,
          chain: info,
          money,
          explorerUrl: config.explorerUrl,
          publicUrl: config.http.publicUrl,
        }),
        script: `${AUDIT_JS}\n;\n${PAYOUTS_JS}`,
      },
      chat: ({ send, admins, now, onError, memory, pageUrl }) =>
        createAuditChat({
          accounts,
          audits,
          actions,
          ledger,
          admins,
          send,
          now,
          onError,
          memory,
          pageUrl,
          unitOf: money.unitOf,
          money,
          chain: info,
          explorerUrl: config.explorerUrl,
        }),
    }
  },
}
