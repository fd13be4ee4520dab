// @ts-check
// Launches one tenant of the example launch blueprint on memory providers, printing progress
// from the run's events, then shows the plan is empty, and tears the tenant down.
//
//   node examples/launch.mjs [tenant]
//
// Swap `Providers.memory(...)` for `Providers.connect('providers.toml')` (the CLI's provider
// file) to run the same code against real services.
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { Providers, Engine, Blueprint, Secret, ProvisioError } from 'provisio'

const here = path.dirname(fileURLToPath(import.meta.url))
const launch = path.resolve(here, '..', '..', '..', 'examples', 'launch-tenant')

async function main() {
  const name = process.argv[2] ?? 'acme'
  const providers = await Providers.memory({ fixtures: path.join(launch, 'memory-fixtures.yaml') })
  const engine = new Engine(providers, {
    onEvent(event) {
      if (event.type === 'step_succeeded') {
        console.log(`  ${event.outcome.padEnd(9)} ${event.resource} (${event.duration_ms} ms)`)
      } else if (event.type === 'step_retrying') {
        console.log(`  retrying ${event.resource} in ${event.delay_ms} ms: ${event.reason}`)
      } else if (event.type === 'run_finished') {
        console.log(`${event.tenant}: ${event.summary.created} created, ${event.summary.deleted} deleted`)
      }
    },
  })
  const blueprint = Blueprint.load(launch)
  /** @type {import('provisio').Tenant} */
  const tenant = {
    name,
    vars: { size: 'medium' },
    // handed over by the back office; never printed, stored only in the secret store
    secrets: { smtp_password: new Secret(process.env.SMTP_PASSWORD ?? 'example-smtp-password') },
  }

  const plan = await engine.plan(blueprint, tenant)
  console.log(plan.text)

  // A failed run rejects with its first error, the run report attached (see the catch below).
  await engine.apply(blueprint, tenant, { signal: AbortSignal.timeout(60_000) })
  const outputs = await engine.outputs(name)
  console.log(`https://${String(outputs.dns_prod.fqdn)} is live on ${String(outputs.web.public_ip)}`)
  console.log(`no changes left: ${!(await engine.plan(blueprint, tenant)).has_changes}`)

  const destroyed = await engine.destroy(blueprint, tenant, { allow: ['database'] })
  console.log(`destroyed: ${destroyed.summary.deleted} resources`)
}

main().catch((e) => {
  if (e instanceof ProvisioError) {
    console.error(`${e.kind} (retryable: ${e.retryable}): ${e.message}`)
    if (e.report) {
      for (const error of e.report.errors) console.error(`  ${error.step}: ${error.message}`)
      console.error(`  rolled back: ${e.report.summary.rolled_back} resources`)
    }
  } else console.error(e)
  process.exitCode = 1
})
