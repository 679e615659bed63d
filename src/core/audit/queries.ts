import type { OpId } from '../../ledger/op-id.ts'
import type { AuditState, Inspection } from './state.ts'

/** How many answers (or commitments) each item has received, by item id: one pass over the inspections. */
export function answersByItem(state: AuditState): Map<OpId, number> {
  const counts = new Map<OpId, number>()
  for (const i of state.inspections) {
    if (i.status === 'answered' || i.status === 'committed' || i.status === 'revealed')
      counts.set(i.item, (counts.get(i.item) ?? 0) + 1)
  }
  return counts
}

/** Inspections not yet answered (or committed), oldest first: what blocks `stop`. */
export function outstandingInspections(state: AuditState): Inspection[] {
  return state.inspections.filter((i) => i.status === 'outstanding')
}

/** The inspection an auditor should do next (one at a time), or undefined when none is open. */
export function nextInspection(
  state: AuditState,
  auditorKey: string,
): (Inspection & { description: string }) | undefined {
  const next = state.inspections.find((i) => i.auditor === auditorKey && i.status === 'outstanding')
  return (
    next && {
      ...next,
      description: state.items.find((item) => item.id === next.item)?.description ?? next.item,
    }
  )
}

/** An auditor's inspections and, once computed, its result. */
export function auditorSummary(state: AuditState, auditorKey: string) {
  const number = state.auditors.findIndex((a) => a.key === auditorKey)
  return {
    auditor: state.auditors[number],
    inspections: state.inspections.filter((i) => i.auditor === auditorKey),
    result: number >= 0 ? state.results?.auditors[number] : undefined,
  }
}
