// `npm run contracts`: compiles contracts/ with solc (npm) into src/chain/artifacts.ts.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { renderArtifacts } from '../src/chain/compile.ts'

const target = join(import.meta.dirname, '..', 'src', 'chain', 'artifacts.ts')
writeFileSync(target, renderArtifacts())
console.log(`wrote ${target}`)
