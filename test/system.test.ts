import { spawnSync } from 'node:child_process'
import { describe, expect, test } from 'vitest'
import { hasSystemService, SYSTEM_SERVICES } from './system.ts'

// CI installs these (scripts/install-system.sh) for the chat and browser tests; this checks the
// install step itself, so a broken install fails here first with a clear message.
describe('system services', () => {
  test.runIf(hasSystemService(SYSTEM_SERVICES.prosody))('prosodyctl runs', () => {
    const result = spawnSync('/usr/bin/prosodyctl', ['about'], { encoding: 'utf8' })
    expect(`${result.stdout}${result.stderr}`).toMatch(/Prosody/i)
  })

  test.runIf(hasSystemService(SYSTEM_SERVICES.chromium))('chromium reports its version', () => {
    const result = spawnSync('/usr/bin/chromium', ['--version'], { encoding: 'utf8' })
    expect(result.stdout).toMatch(/Chromium \d+/)
  })
})
