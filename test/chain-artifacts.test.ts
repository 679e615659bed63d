import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, test } from 'vitest'
import { renderArtifacts } from '../src/chain/compile.ts'

describe('contract artifacts', () => {
  test('src/chain/artifacts.ts is what contracts/ compiles to (run "npm run contracts" if not)', () => {
    const committed = readFileSync(
      join(import.meta.dirname, '..', 'src', 'chain', 'artifacts.ts'),
      'utf8',
    )
    expect(renderArtifacts() === committed, 'artifacts are stale: run "npm run contracts"').toBe(
      true,
    )
  })
})
