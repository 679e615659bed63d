import { existsSync } from 'node:fs'

/** Where a system service's binary is expected, and how a developer installs it. */
export type SystemService = { name: string; binaries: string[] }

/** The services the test suite uses; `scripts/install-system.sh` installs them. */
export const SYSTEM_SERVICES = {
  prosody: { name: 'Prosody (XMPP server)', binaries: ['/usr/bin/prosody', '/usr/bin/prosodyctl'] },
  chromium: { name: 'Chromium', binaries: ['/usr/bin/chromium'] },
  postgres: {
    name: 'PostgreSQL 15 server',
    binaries: ['/usr/lib/postgresql/15/bin/initdb', '/usr/lib/postgresql/15/bin/pg_ctl'],
  },
} satisfies Record<string, SystemService>

/**
 * Tells whether a system service is installed. When it is not, prints a loud notice naming the
 * install script and returns false so the test can skip, unless `RWA_REQUIRE_SYSTEM=1` (CI), where
 * a missing service throws and fails the run.
 */
export function hasSystemService(service: SystemService): boolean {
  const missing = service.binaries.filter((path) => !existsSync(path))
  if (missing.length === 0) return true
  const message = `${service.name} is not installed (missing ${missing.join(', ')}); run "bash scripts/install-system.sh".`
  if (process.env.RWA_REQUIRE_SYSTEM === '1') throw new Error(`RWA_REQUIRE_SYSTEM=1: ${message}`)
  process.stderr.write(`\n!!! SKIPPING TESTS: ${message}\n\n`)
  return false
}

/**
 * Launches the system's Chromium headless for browser tests, with nothing of its own reaching
 * the network (no background updates, sync or first-run pages).
 */
export async function launchChromium(): Promise<import('playwright-core').Browser> {
  const { chromium } = await import('playwright-core')
  return chromium.launch({
    executablePath: SYSTEM_SERVICES.chromium.binaries[0]!,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  })
}
