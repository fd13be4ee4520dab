// @ts-check
// The engine on memory providers: the launch blueprint end to end, events, custom JS steps,
// concurrent tenants, cancellation, errors, secrets, refresh and fleets.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import util from 'node:util'
import {
  Blueprint,
  Engine,
  Secret,
  ProvisioError,
  InvalidInputError,
  ConflictError,
  NotFoundError,
  ProtectedError,
  PermissionDeniedError,
  TransientError,
  CancelledError,
  REDACTED,
} from '../index.mjs'
import { LAUNCH, launchWorld, world, sleep } from './helpers.mjs'

const SMTP = 'smtp-pa55word-for-acme'

/**
 * The error `promise` rejects with (fails when it resolves).
 * @param {Promise<unknown>} promise
 * @returns {Promise<import('../index.mjs').ProvisioError>}
 */
async function rejection(promise) {
  return promise.then(
    (v) => assert.fail(`expected a rejection, got ${JSON.stringify(v)}`),
    (e) => {
      assert.ok(e instanceof ProvisioError, String(e))
      return e
    },
  )
}

/**
 * How many resources of `bp` exist once launched (not those `only_in` other phases).
 * @param {import('../index.mjs').Blueprint} bp
 */
function launchedCount(bp) {
  const doc = /** @type {{ resources: Record<string, { only_in?: string[] }> }} */ (bp.toObject())
  return Object.values(doc.resources).filter((r) => !r.only_in || r.only_in.includes('launched'))
    .length
}

/** @param {string} name */
function tenant(name) {
  return { name, secrets: { smtp_password: new Secret(SMTP) } }
}

test('launch: plan, apply, no-op, destroy', async () => {
  const providers = await launchWorld()
  const w = world(providers)
  const before = w.inventory()
  /** @type {import('../index.mjs').RunEvent[]} */
  const events = []
  const engine = new Engine(providers, { onEvent: (e) => events.push(e) })
  const bp = Blueprint.load(LAUNCH)
  assert.equal(bp.name, 'launch-tenant')
  const launched = launchedCount(bp)
  assert.equal(launched, 24)
  assert.equal(bp.resources.length, 26, 'two more only while archived or retired')

  const plan = await engine.plan(bp, tenant('acme'))
  assert.equal(plan.has_changes, true)
  assert.equal(plan.counts.create, launched)
  assert.match(plan.text, /Plan for tenant "acme"/)

  const applied = await engine.apply(bp, tenant('acme'))
  assert.equal(applied.success, true, JSON.stringify(applied.errors))
  assert.equal(applied.summary.created, launched)
  assert.deepEqual(applied.errors, [])

  const inv = w.inventory()
  assert.ok(inv['compute.instance'])
  assert.ok(Object.keys(inv['dns.record'] ?? {}).includes('A acme.example.com'))
  assert.ok(Object.keys(inv['ci.job'] ?? {}).includes('web_build-acme'))
  const outputs = await engine.outputs('acme')
  assert.equal(outputs.dns_prod.fqdn, 'acme.example.com')
  // the SMTP password went to the secret store, and nowhere else
  const stored = await providers.secrets().getSecret('acme-smtp-password')
  assert.equal(stored.value.reveal(), SMTP)
  assert.ok(!JSON.stringify(applied).includes(SMTP))
  assert.ok(!JSON.stringify(outputs).includes(SMTP))

  const noop = await engine.plan(bp, tenant('acme'))
  assert.equal(noop.has_changes, false)
  const again = await engine.apply(bp, tenant('acme'))
  assert.equal(again.summary.created + again.summary.updated + again.summary.deleted, 0)

  // the database is protected: destroy keeps it unless allowed
  const kept = await engine.destroy(bp, 'acme')
  assert.ok(kept.kept_protected.includes('database'))
  const destroyed = await engine.destroy(bp, 'acme', { allow: ['database'] })
  assert.equal(destroyed.success, true)
  assert.deepEqual(await engine.outputs('acme'), {})
  assert.equal(w.inventory()['compute.instance'], undefined)
  assert.deepEqual(w.inventory()['dns.record'], before['dns.record'])

  // events arrive as the runs proceed, typed, secret-free
  const types = new Set(events.map((e) => /** @type {string} */ (e.type)))
  for (const t of ['run_started', 'step_started', 'step_succeeded', 'run_finished']) assert.ok(types.has(t), t)
  const web = events.find((e) => e.type === 'step_succeeded' && e.resource === 'web')
  assert.ok(web && web.type === 'step_succeeded' && typeof web.outputs.public_ip === 'string')
  assert.ok(events.every((e) => e.tenant === 'acme'))
  assert.ok(!JSON.stringify(events).includes(SMTP))
})

test('blueprints from text and objects; tenants as names', async () => {
  const providers = await launchWorld()
  const engine = new Engine(providers)
  const doc = {
    name: 'bucket-only',
    resources: { bucket: { type: 'storage.bucket', params: { name: '${tenant.name}-data' } } },
  }
  const fromObject = await engine.apply(doc, 'beta')
  assert.equal(fromObject.success, true)
  const text = 'name: bucket-only\nresources:\n  bucket: { type: storage.bucket, params: { name: "${tenant.name}-data" } }\n'
  const parsed = Blueprint.fromYaml(text)
  assert.deepEqual(Blueprint.parse(text).toObject(), parsed.toObject())
  assert.deepEqual(parsed.toObject().resources, Blueprint.fromObject(doc).toObject().resources)
  assert.equal((await engine.plan(parsed, 'beta')).has_changes, false)
  assert.throws(() => Blueprint.parse('name: [', 'yaml'), InvalidInputError)
  assert.throws(() => Blueprint.load('/nonexistent/blueprint'), ProvisioError)
})

test('custom steps are async JS functions, retried on retryable errors', async () => {
  const providers = await launchWorld()
  /** @type {string[]} */
  const calls = []
  let failures = 1
  /** @type {import('../index.mjs').RunEvent[]} */
  const events = []
  const engine = new Engine(providers, {
    onEvent: (e) => events.push(e),
    steps: [
      {
        type: 'custom.notify',
        outputs: ['message_id'],
        async apply(ctx, params, prior) {
          calls.push(`apply ${ctx.tenant.name} ${params.channel} ${prior ? 'again' : 'first'}`)
          await sleep(5)
          if (failures-- > 0) throw new TransientError('chat service is down')
          return { outputs: { message_id: `msg-${ctx.resource}-${params.bucket}` } }
        },
        async delete(ctx, _params, outputs) {
          calls.push(`delete ${ctx.tenant.name} ${outputs?.message_id}`)
          return 'deleted'
        },
      },
    ],
  })
  const doc = {
    name: 'notify',
    resources: {
      bucket: { type: 'storage.bucket', params: { name: '${tenant.name}-data' } },
      notify: { type: 'custom.notify', params: { channel: '#ops', bucket: '${bucket.name}' } },
      after: { type: 'storage.bucket', params: { name: '${tenant.name}-${notify.message_id}' } },
    },
  }
  const report = await engine.apply(doc, 'gamma')
  assert.equal(report.success, true, JSON.stringify(report.errors))
  assert.deepEqual(calls, ['apply gamma #ops first', 'apply gamma #ops first'])
  assert.ok(events.some((e) => e.type === 'step_retrying' && e.resource === 'notify'))
  const outputs = await engine.outputs('gamma')
  assert.equal(outputs.notify.message_id, 'msg-notify-gamma-data')
  assert.ok(Object.keys(world(providers).inventory()['storage.bucket'] ?? {}).includes('gamma-msg-notify-gamma-data'))
  await engine.destroy(doc, 'gamma')
  assert.equal(calls.at(-1), 'delete gamma msg-notify-gamma-data')

  // a permanent failure fails the step with the JS error's kind and rolls the run back
  const failing = new Engine(providers, {
    steps: [
      {
        type: 'custom.fail',
        async apply() {
          throw new InvalidInputError('channel #nope does not exist')
        },
      },
    ],
  })
  const failDoc = {
    name: 'fail',
    resources: {
      bucket: { type: 'storage.bucket', params: { name: '${tenant.name}-data' } },
      fail: { type: 'custom.fail', params: {}, depends_on: ['bucket'] },
    },
  }
  const bad = await rejection(failing.apply(failDoc, 'delta'))
  assert.ok(bad instanceof InvalidInputError)
  assert.equal(bad.step, 'fail')
  assert.match(bad.message, /channel #nope does not exist/)
  assert.equal(bad.report?.success, false)
  assert.equal(bad.report?.errors[0].kind, 'invalid_input')
  assert.equal(bad.report?.summary.rolled_back, 1)
  // a plain Error thrown by a step is unexpected
  const plain = new Engine(providers, {
    steps: [{ type: 'custom.plain', async apply() { throw new Error('oops') } }],
  })
  const r = await plain.apply({ name: 'plain', resources: { p: { type: 'custom.plain', params: {} } } }, 'eps', {
    check: false,
  })
  assert.equal(r.success, false)
  assert.equal(r.errors[0].kind, 'unexpected')
})

test('concurrent tenants from one process share one engine', async () => {
  const providers = await launchWorld()
  const engine = new Engine(providers)
  const bp = Blueprint.load(LAUNCH)
  const names = ['t01', 't02', 't03', 't04', 't05', 't06']
  const reports = await Promise.all(names.map((n) => engine.apply(bp, tenant(n))))
  for (const r of reports) assert.equal(r.success, true, JSON.stringify(r.errors))
  assert.deepEqual(reports.map((r) => r.tenant).sort(), names)
  const instances = world(providers).inventory()['compute.instance'] ?? {}
  assert.equal(Object.keys(instances).length, names.length)
  const destroyed = await Promise.all(names.map((n) => engine.destroy(bp, n, { allow: ['database'] })))
  assert.ok(destroyed.every((r) => r.success))
})

test('an AbortSignal cancels a run, which rolls back', async () => {
  const providers = await launchWorld()
  const w = world(providers)
  const before = w.inventory()
  w.faults.latency('*', 40)
  const controller = new AbortController()
  // abort as soon as the first step has succeeded: the run is under way, most steps are not
  const engine = new Engine(providers, {
    onEvent: (e) => {
      if (e.type === 'step_succeeded') controller.abort()
    },
  })
  const err = await rejection(engine.apply(LAUNCH, tenant('zeta'), { signal: controller.signal }))
  assert.ok(err instanceof CancelledError, String(err))
  const report = err.report
  assert.ok(report)
  assert.equal(report.success, false)
  assert.ok(report.errors.every((e) => e.kind === 'cancelled'), JSON.stringify(report.errors))
  assert.ok(report.summary.skipped > 0)
  w.faults.clear()
  assert.equal(w.inventory()['compute.instance'], undefined)
  assert.deepEqual(w.inventory(), before)

  // an already aborted signal runs nothing: every step is skipped (the engine counts a run
  // with no failed step as a success)
  const aborted = AbortSignal.abort()
  const none = await engine.apply(LAUNCH, tenant('zeta'), { signal: aborted })
  assert.equal(none.summary.created, 0)
  assert.equal(none.summary.skipped, launchedCount(Blueprint.load(LAUNCH)))
  assert.deepEqual(w.inventory(), before)
})

test('errors carry kind, retryable, provider, operation, resource', async () => {
  const providers = await launchWorld()
  const err = await providers
    .storage()
    .getObject('provisio-shared-assets', 'initial/missing.txt')
    .then(
      () => assert.fail('must fail'),
      (e) => e,
    )
  assert.ok(err instanceof ProvisioError)
  assert.ok(err instanceof Error)
  assert.equal(err.name, 'NotFoundError')
  assert.equal(err.kind, 'not_found')
  assert.equal(err.retryable, false)
  assert.equal(err.provider, 'memory')
  assert.equal(err.operation, 'storage.get_object')
  assert.match(String(err.resource), /initial\/missing.txt/)
  assert.match(err.message, /^not_found in memory storage.get_object/)
  assert.ok(err.stack?.includes('NotFoundError'))

  // blueprint problems stop the run before any step
  const engine = new Engine(providers)
  await assert.rejects(
    engine.apply({ name: 'bad', resources: { x: { type: 'no.such.type', params: {} } } }, 'acme'),
    (e) => e instanceof InvalidInputError && e.resource === 'x',
  )
  await assert.rejects(engine.apply(LAUNCH, 'Not A Tenant'), InvalidInputError)
  // so does a required secret variable the tenant lacks
  await assert.rejects(
    engine.apply(LAUNCH, 'acme'),
    (e) => e instanceof InvalidInputError && /smtp_password/.test(e.message),
  )
  // retryable faults are retried by the engine until they pass
  world(providers).faults.errorOnCall('dns.ensure_record', 1, 'transient')
  const retried = await engine.apply(LAUNCH, tenant('acme'))
  assert.equal(retried.success, true, JSON.stringify(retried.errors))
})

/** Two buckets, `data` after `assets`, on fresh memory providers. */
async function bucketsWorld() {
  const providers = await launchWorld()
  const doc = {
    name: 'buckets',
    resources: {
      assets: { type: 'storage.bucket', params: { name: '${tenant.name}-assets' } },
      data: { type: 'storage.bucket', params: { name: '${tenant.name}-data' }, depends_on: ['assets'] },
    },
  }
  return { providers, faults: world(providers).faults, engine: new Engine(providers), doc }
}

test('a failed apply rejects with its first error, the run report attached', async () => {
  const { faults, engine, doc } = await bucketsWorld()
  const ok = await engine.apply(doc, 'iota')
  assert.equal(ok.success, true)
  // a create refused for good fails the run
  faults.errorRate('storage.ensure_bucket', 1, 'permission_denied')
  const err = await rejection(engine.apply(doc, 'kappa'))
  assert.ok(err instanceof PermissionDeniedError)
  assert.equal(err.kind, 'permission_denied')
  assert.equal(err.retryable, false)
  assert.equal(err.provider, 'memory')
  assert.equal(err.operation, 'storage.ensure_bucket')
  assert.equal(err.step, 'assets')
  const report = err.report
  assert.ok(report)
  assert.equal(report.success, false)
  assert.equal(report.tenant, 'kappa')
  assert.equal(report.operation, 'apply')
  assert.ok(report.errors.length > 0)
  assert.ok(report.errors[0] instanceof PermissionDeniedError)
  assert.equal(report.errors[0].message, err.message)
  assert.equal(report.errors[0].step, 'assets')
  assert.equal(report.summary.failed, 1)
  assert.equal(report.steps.find((s) => s.resource === 'data')?.status.status, 'skipped')
  // the shape a resolved report has; not among the error's own (logged) keys
  for (const key of Object.keys(ok)) assert.ok(key in report, key)
  assert.ok(!Object.keys(err).includes('report'))
})

test('check: false resolves a failed apply with its report', async () => {
  const { faults, engine, doc } = await bucketsWorld()
  faults.errorRate('storage.ensure_bucket', 1, 'permission_denied')
  const report = await engine.apply(doc, 'lambda', { check: false })
  assert.equal(report.success, false)
  assert.ok(report.errors.length > 0)
  assert.ok(report.errors[0] instanceof PermissionDeniedError)
  assert.equal(report.errors[0].step, 'assets')
  faults.clear()
  assert.equal((await engine.apply(doc, 'lambda', { check: false })).success, true)
})

test('a failed destroy rejects the same way; check: false resolves', async () => {
  const { faults, engine, doc } = await bucketsWorld()
  assert.equal((await engine.apply(doc, 'mu')).success, true)
  // a delete refused for good
  faults.errorRate('storage.delete_bucket', 1, 'permission_denied')
  const err = await rejection(engine.destroy(doc, 'mu'))
  assert.ok(err instanceof PermissionDeniedError)
  assert.equal(err.operation, 'storage.delete_bucket')
  assert.equal(err.report?.success, false)
  assert.equal(err.report?.operation, 'destroy')
  assert.ok((err.report?.errors.length ?? 0) > 0)
  const report = await engine.destroy(doc, 'mu', { check: false })
  assert.equal(report.success, false)
  assert.ok(report.errors.length > 0 && report.errors.every((e) => e.kind === 'permission_denied'))
  faults.clear()
  assert.equal((await engine.destroy(doc, 'mu')).success, true)
  assert.deepEqual(await engine.outputs('mu'), {})
})

test('secrets are redacted everywhere but reveal()', () => {
  const s = new Secret('hunter2-long-value')
  assert.equal(String(s), REDACTED)
  assert.equal(`${s}`, REDACTED)
  assert.equal(s + '', REDACTED)
  assert.equal(JSON.stringify({ s }), `{"s":"${REDACTED}"}`)
  assert.equal(util.inspect(s), `Secret(${REDACTED})`)
  assert.ok(!util.inspect({ nested: [s] }).includes('hunter2'))
  assert.ok(!util.format('%o %O %j', s, s, s).includes('hunter2'))
  assert.equal(s.reveal(), 'hunter2-long-value')
  assert.equal(Object.keys(s).length, 0)
  assert.throws(() => new Secret(/** @type {any} */ (42)), TypeError)
})

test('refresh reports drift', async () => {
  const providers = await launchWorld()
  const engine = new Engine(providers)
  const bp = Blueprint.load(LAUNCH)
  assert.equal((await engine.apply(bp, tenant('eta'))).success, true)
  // the branches moved on with the config commits since they were recorded: a branch head is
  // volatile (expected to move), so that is not drift, and a fresh launch refreshes in sync
  const first = await engine.refresh(bp, 'eta', { write: true })
  const drifted = first.resources.filter((r) => r.drift.status !== 'in_sync').map((r) => r.resource)
  assert.deepEqual(drifted, [])
  assert.equal(first.has_drift, false)
  const dns = providers.dns()
  const zone = await dns.findZone('example.com')
  assert.ok(zone)
  await dns.deleteRecord(zone, 'eta.stg.example.com', 'CNAME')
  const drift = await engine.refresh(bp, 'eta')
  assert.equal(drift.has_drift, true)
  assert.deepEqual(drift.resources.find((r) => r.resource === 'dns_stg')?.drift, { status: 'missing' })
  const plan = await engine.plan(bp, tenant('eta'), { refresh: true })
  assert.equal(plan.resources.find((r) => r.name === 'dns_stg')?.action, 'create')
})

test('fleet runs with canary, events and destroy', async () => {
  const providers = await launchWorld()
  const engine = new Engine(providers, { state: 'memory' })
  const bp = Blueprint.load(LAUNCH)
  /** @type {import('../index.mjs').FleetEvent[]} */
  const events = []
  const tenants = ['f1', 'f2', 'f3', 'f4'].map(tenant)
  const report = await engine.fleet(bp, tenants, {
    fleetId: 'launch-1',
    concurrency: 2,
    canary: 1,
    onEvent: (e) => events.push(e),
  })
  assert.equal(report.success, true)
  assert.equal(report.counts.succeeded, 4)
  assert.deepEqual(report.status, { status: 'completed' })
  assert.ok(events.some((e) => e.type === 'canary_passed'))
  assert.equal(events.filter((e) => e.type === 'tenant_finished').length, 4)
  // resuming the same fleet id skips what succeeded
  const resumed = await engine.fleet(bp, tenants, { fleetId: 'launch-1' })
  assert.equal(resumed.counts.already_succeeded, 4)
  const gone = await engine.fleet(bp, tenants, { fleetId: 'retire-1', destroy: true, allow: ['database'] })
  assert.equal(gone.counts.succeeded, 4)
  assert.equal(world(providers).inventory()['compute.instance'], undefined)
})

test('a SQLite state store outlives the engine', async (t) => {
  const fs = await import('node:fs/promises')
  const os = await import('node:os')
  const path = await import('node:path')
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'provisio-node-'))
  t.after(() => fs.rm(dir, { recursive: true, force: true }))
  const providers = await launchWorld()
  const state = path.join(dir, 'state.db')
  const first = new Engine(providers, { state })
  assert.equal((await first.apply(LAUNCH, tenant('theta'))).success, true)
  const second = new Engine(providers, { state })
  assert.equal((await second.plan(LAUNCH, tenant('theta'))).has_changes, false)
})

test('lifecycle transitions: suspend, resume, archive, restore, retire', async () => {
  const providers = await launchWorld()
  const w = world(providers)
  const engine = new Engine(providers)
  const bp = Blueprint.load(LAUNCH)
  const acme = tenant('acme')
  const www = () => {
    const records = /** @type {Record<string, { content: string }>} */ (w.inventory()['dns.record'])
    return records['A acme.example.com'].content
  }
  const phase = async () => (await engine.phase('acme'))?.phase ?? null

  let e = await rejection(engine.transition(bp, acme, 'archive'))
  assert.ok(e instanceof NotFoundError, String(e))
  assert.equal(await phase(), null)
  await engine.apply(bp, acme)
  assert.equal(await phase(), 'launched')

  const suspended = await engine.transition(bp, acme, 'suspend')
  assert.equal(suspended.operation, 'suspend')
  assert.equal(suspended.summary.updated, 2) // web stopped, dns_prod at maintenance
  assert.equal(suspended.summary.deleted, 2) // the staging stack and the health check
  assert.equal(www(), '192.0.2.250')
  assert.equal(await phase(), 'suspended')
  e = await rejection(engine.apply(bp, acme))
  assert.ok(e instanceof ConflictError && /run `resume` first/.test(e.message), String(e))
  e = await rejection(engine.transition(bp, acme, 'restore'))
  assert.ok(e instanceof ConflictError && /from suspended: resume, archive, retire/.test(e.message), String(e))
  await engine.transition(bp, acme, 'resume')
  assert.notEqual(www(), '192.0.2.250')

  const plan = await engine.planTransition(bp, acme, 'archive')
  const web = plan.resources.find((/** @type {{ name: string }} */ r) => r.name === 'web')
  assert.equal(web?.action, 'delete')
  await engine.transition(bp, acme, 'archive')
  assert.deepEqual(Object.keys(w.inventory()['compute.instance'] ?? {}), [])
  assert.equal(await phase(), 'archived')
  await engine.transition(bp, acme, 'restore')
  assert.equal(Object.keys(w.inventory()['compute.instance'] ?? {}).length, 1)

  e = await rejection(engine.transition(bp, acme, 'retire'))
  assert.ok(e instanceof ProtectedError, String(e))
  await engine.transition(bp, acme, 'retire', { allow: ['database'] })
  assert.equal(await phase(), 'retired')
  e = await rejection(
    // @ts-expect-error: not a transition
    engine.transition(bp, acme, 'hibernate'),
  )
  assert.ok(e instanceof InvalidInputError && /hibernate/.test(e.message), String(e))
})
