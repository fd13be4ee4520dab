// @ts-check
// The Node half of the overhead benchmark (docs/performance.md, "Node binding"): the same
// workload as bench/launch100.rs, through the addon.
//
//   node bench/launch100.mjs 100
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { Providers, Engine, Blueprint, Secret } from '../index.mjs'

const here = path.dirname(fileURLToPath(import.meta.url))
const launch = path.resolve(here, '..', '..', '..', 'examples', 'launch-tenant')
const n = Number(process.argv[2] ?? 100)

const providers = await Providers.memory({ fixtures: path.join(launch, 'memory-fixtures.yaml') })
const engine = new Engine(providers, { state: 'memory' })
const blueprint = Blueprint.load(launch)
const smtp = new Secret('bench-smtp-password')
const start = process.hrtime.bigint()
for (let i = 0; i < n; i++) {
  const name = `t${String(i).padStart(3, '0')}`
  await engine.apply(blueprint, { name, secrets: { smtp_password: smtp } }) // a failed run rejects
}
const seconds = Number(process.hrtime.bigint() - start) / 1e9
console.log(`node: ${n} launches in ${seconds.toFixed(3)} s (${((seconds * 1000) / n).toFixed(2)} ms per launch)`)
