// @ts-check
// Shared by the tests: the launch example's paths and a fresh memory world prepared with its
// fixtures.
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { Providers } from '../index.mjs'

const here = path.dirname(fileURLToPath(import.meta.url))
/** The repository root. */
export const ROOT = path.resolve(here, '..', '..', '..')
/** The launch blueprint directory (blueprint.yaml + templates/). */
export const LAUNCH = path.join(ROOT, 'examples', 'launch-tenant')
/** What the operator's accounts hold before the first launch. */
export const LAUNCH_FIXTURES = path.join(LAUNCH, 'memory-fixtures.yaml')

/** Memory providers prepared with the launch example's fixtures. */
export function launchWorld(seed = 7) {
  return Providers.memory({ seed, fixtures: LAUNCH_FIXTURES })
}

/**
 * The memory world of `providers` (throws when there is none).
 * @param {import('../index.mjs').Providers} providers
 */
export function world(providers) {
  const w = providers.cloud
  if (!w) throw new Error('these providers have no memory world')
  return w
}

/**
 * Waits `ms` milliseconds.
 * @param {number} ms
 */
export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
