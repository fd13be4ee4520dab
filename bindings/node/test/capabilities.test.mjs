// @ts-check
// Every capability trait, called directly on memory providers.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  setLogger,
  Providers,
  Secret,
  ProvisioError,
  NotFoundError,
  ProtectedError,
  ConflictError,
  TransientError,
  InvalidInputError,
} from '../index.mjs'
import { world } from './helpers.mjs'

test('dns: zones and records', async () => {
  const providers = await Providers.memory()
  const zone = world(providers).addZone('example.com')
  const dns = providers.dns()
  assert.equal(dns.info().name, 'memory')
  assert.equal(typeof dns.capabilities().proxied, 'boolean')
  assert.deepEqual(await dns.findZone('example.com'), zone)
  assert.equal(await dns.findZone('missing.example'), null)

  const spec = { name: 'www.example.com', type: 'A', content: '192.0.2.10', ttl: 300 }
  const created = await dns.ensureRecord(zone, spec)
  assert.equal(created.outcome, 'created')
  assert.equal(created.value.content, '192.0.2.10')
  assert.equal((await dns.ensureRecord(zone, spec)).outcome, 'unchanged')
  assert.equal((await dns.ensureRecord(zone, { ...spec, content: '192.0.2.11' })).outcome, 'updated')
  const got = await dns.getRecord(zone, 'www.example.com', 'A')
  assert.equal(got?.content, '192.0.2.11')
  const page = await dns.listRecords(zone, { limit: 10 })
  assert.ok(page.items.some((r) => r.name === 'www.example.com'))
  assert.equal(page.next, null)
  assert.equal(await dns.deleteRecord(zone, 'www.example.com', 'A'), 'deleted')
  assert.equal(await dns.deleteRecord(zone, 'www.example.com', 'A'), 'already_gone')
  await assert.rejects(dns.ensureRecord(zone, { ...spec, content: 'not-an-ip' }), InvalidInputError)
})

test('storage: classes, restores and expiry rules', async () => {
  const providers = await Providers.memory()
  const storage = providers.storage()
  await storage.ensureBucket({ name: 'acme-cold' })
  for (const key of ['t/acme/a', 't/acme/b']) await storage.putObject('acme-cold', key, 'x')
  assert.ok(storage.capabilities().storage_classes.includes('deep_archive'))
  assert.deepEqual(await storage.setPrefixStorageClass('acme-cold', 't/acme/', 'GLACIER'), {
    changed: 2,
    unchanged: 0,
    pending: 0,
  })
  assert.equal((await storage.headObject('acme-cold', 't/acme/a'))?.storage_class, 'archive')
  await assert.rejects(storage.getObject('acme-cold', 't/acme/a'), ConflictError)
  await assert.rejects(storage.setStorageClass('acme-cold', 't/acme/a', 'frozen'), InvalidInputError)
  // back: rejected as transient (retryable) until the memory restore (20 ms) is done
  let meta = null
  for (let i = 0; i < 100 && meta === null; i++) {
    try {
      meta = await storage.setStorageClass('acme-cold', 't/acme/a', 'standard')
    } catch (e) {
      assert.ok(e instanceof TransientError)
      assert.equal(e.kind, 'transient')
      assert.equal(e.retryable, true)
      await new Promise((r) => setTimeout(r, 20))
    }
  }
  assert.equal(meta?.storage_class, 'standard')
  const made = await storage.ensureExpiryRule('acme-cold', 't/acme/', 30)
  assert.equal(made.outcome, 'created')
  assert.equal((await storage.getExpiryRule('acme-cold', 't/acme/'))?.days, 30)
  assert.equal(await storage.deleteExpiryRule('acme-cold', 't/acme/'), 'deleted')
  assert.equal(await storage.getExpiryRule('acme-cold', 't/acme/'), null)
})

test('storage: buckets, objects as Buffers, prefixes', async () => {
  const providers = await Providers.memory()
  const storage = providers.storage()
  const bucket = await storage.ensureBucket({ name: 'acme-assets', tags: { team: 'web' } })
  assert.equal(bucket.outcome, 'created')
  assert.equal(bucket.value.block_public_access, true)
  assert.equal((await storage.ensureBucket({ name: 'acme-assets', tags: { team: 'web' } })).outcome, 'unchanged')
  assert.equal((await storage.getBucket('acme-assets'))?.name, 'acme-assets')

  const bytes = Buffer.from([0, 1, 2, 255])
  const meta = await storage.putObject('acme-assets', 'initial/logo.bin', bytes, 'application/octet-stream')
  assert.equal(meta.size, 4)
  await storage.putObject('acme-assets', 'initial/robots.txt', 'User-agent: *\n')
  const { body, meta: got } = await storage.getObject('acme-assets', 'initial/logo.bin')
  assert.ok(Buffer.isBuffer(body))
  assert.deepEqual(body, bytes)
  assert.equal(got.content_type, 'application/octet-stream')
  assert.equal((await storage.headObject('acme-assets', 'initial/robots.txt'))?.size, 14)
  assert.equal(await storage.headObject('acme-assets', 'nope'), null)

  assert.equal(await storage.copyPrefix('acme-assets', 'initial/', 'acme-assets', 'tenants/acme/'), 2)
  assert.equal(await storage.copyPrefix('acme-assets', 'initial/', 'acme-assets', 'tenants/acme/'), 0)
  const listed = await storage.listObjects('acme-assets', 'tenants/acme/')
  assert.deepEqual(
    listed.items.map((o) => o.key),
    ['tenants/acme/logo.bin', 'tenants/acme/robots.txt'],
  )
  await assert.rejects(storage.deleteBucket('acme-assets'), ConflictError)
  assert.equal(await storage.deletePrefix('acme-assets', ''), 4)
  assert.equal(await storage.deleteObject('acme-assets', 'initial/logo.bin'), 'already_gone')
  assert.equal(await storage.deleteBucket('acme-assets'), 'deleted')
  await assert.rejects(storage.getObject('acme-assets', 'x'), NotFoundError)
})

test('compute: launch, wait, find by tags, terminate', async () => {
  const providers = await Providers.memory()
  const compute = providers.compute()
  const spec = {
    name: 'acme-web',
    image: 'img-1',
    size: 'small',
    tags: { 'provisio:tenant': 'acme' },
    idempotency_key: 'acme-web-1',
  }
  const launched = await compute.launchInstance(spec)
  assert.equal(launched.outcome, 'created')
  assert.equal((await compute.launchInstance(spec)).outcome, 'unchanged')
  const running = await compute.waitForState(launched.value.id, 'running', 5000)
  assert.equal(running.state, 'running')
  assert.ok(running.public_ip)
  assert.equal((await compute.getInstance(launched.value.id))?.name, 'acme-web')
  assert.equal((await compute.findInstances({ 'provisio:tenant': 'acme' })).length, 1)
  const id = launched.value.id
  assert.equal(compute.capabilities().stop_start, true)
  assert.equal((await compute.stopInstance(id)).state, 'stopping')
  const stopped = await compute.waitForState(id, 'stopped', 5000)
  assert.equal(stopped.public_ip, null)
  assert.equal((await compute.stopInstance(id)).state, 'stopped')
  assert.equal((await compute.startInstance(id)).state, 'pending')
  assert.equal((await compute.waitForState(id, 'running', 5000)).state, 'running')
  await assert.rejects(compute.stopInstance('i-0123456789abcdef0'), NotFoundError)
  assert.equal(await compute.terminateInstance(launched.value.id), 'deleted')
  await assert.rejects(compute.startInstance(id), ConflictError)
  assert.equal(await compute.terminateInstance(launched.value.id), 'already_gone')
  assert.equal(compute.capabilities().tags, true)
})

test('ci: folders, jobs, builds', async () => {
  const providers = await Providers.memory()
  const ci = providers.ci()
  assert.equal((await ci.ensureFolder('tenants/acme')).outcome, 'created')
  const xml = "<?xml version='1.1' encoding='UTF-8'?><project><builders/></project>"
  const job = await ci.ensureJob('tenants/acme/web_build', xml)
  assert.equal(job.value.path, 'tenants/acme/web_build')
  assert.equal((await ci.ensureJob('tenants/acme/web_build', xml)).outcome, 'unchanged')
  assert.equal(await ci.getJobConfig('tenants/acme/web_build'), xml)
  assert.equal(await ci.getJobConfig('tenants/acme/nope'), null)
  const build = await ci.triggerBuild('tenants/acme/web_build', { BRANCH: 'acme' })
  assert.equal(build.number, 1)
  assert.equal(await ci.waitForBuild(build, 5000), 'SUCCESS')
  await assert.rejects(ci.ensureJob('tenants/acme/bad', '<project>'), InvalidInputError)
  assert.equal(ci.capabilities().downstream, true)
  assert.deepEqual(await ci.addDownstream('tenants/acme/web_build', 'tenants/acme/deploy'), { was_listed: false, changed: true })
  assert.deepEqual(await ci.addDownstream('tenants/acme/web_build', 'tenants/acme/deploy'), { was_listed: true, changed: false })
  assert.deepEqual(await ci.downstreamJobs('tenants/acme/web_build'), ['tenants/acme/deploy'])
  assert.deepEqual(await ci.removeDownstream('tenants/acme/web_build', 'tenants/acme/deploy'), { was_listed: true, changed: true })
  assert.equal(await ci.downstreamJobs('tenants/acme/nope'), null)
  await assert.rejects(ci.addDownstream('tenants/acme/web_build', 'a,b'), InvalidInputError)
  assert.equal(await ci.deleteJob('tenants/acme'), 'deleted')
  assert.equal(await ci.deleteJob('tenants/acme'), 'already_gone')
})

test('secrets: versions, soft delete, recover, purge with confirmation', async () => {
  const providers = await Providers.memory()
  const secrets = providers.secrets()
  const put = await secrets.putSecret('acme-db-password', new Secret('s3cret-value'), { tenant: 'acme' })
  assert.equal(put.outcome, 'created')
  assert.equal((await secrets.putSecret('acme-db-password', 's3cret-value')).outcome, 'unchanged')
  const got = await secrets.getSecret('acme-db-password')
  assert.ok(got.value instanceof Secret)
  assert.equal(got.value.reveal(), 's3cret-value')
  assert.equal(String(got.value), '***redacted***')
  assert.equal((await secrets.describeSecret('acme-db-password'))?.deleted, false)
  assert.equal((await secrets.listSecrets('acme-')).items.length, 1)
  assert.equal(await secrets.deleteSecret('acme-db-password', 7), 'deleted')
  await assert.rejects(secrets.getSecret('acme-db-password'), NotFoundError)
  await assert.rejects(secrets.putSecret('acme-db-password', 'x'), ConflictError)
  assert.equal((await secrets.recoverSecret('acme-db-password')).deleted, false)
  await assert.rejects(secrets.purgeSecret('acme-db-password', 'other-name'), ProtectedError)
  assert.equal(await secrets.purgeSecret('acme-db-password', 'acme-db-password'), 'deleted')
  await assert.rejects(secrets.deleteSecret('x', 3), InvalidInputError)
})

test('database: servers, roles, databases, seeds, confirmed drops', async () => {
  const providers = await Providers.memory()
  const db = providers.database()
  assert.equal(db.capabilities().roles_and_databases, true)
  const server = await db.ensureServer({
    name: 'acme-pg',
    engine: 'postgres',
    version: '16',
    size: 'db.t3.micro',
    storage_gb: 20,
    admin_user: 'admin',
    admin_password: new Secret('admin-password'),
  })
  assert.equal(server.outcome, 'created')
  assert.equal((await db.waitForServer('acme-pg', 5000)).status, 'available')
  await assert.rejects(db.deleteServer('acme-pg'), ProtectedError)
  assert.equal(
    await db.deleteServer('acme-pg', { override_protection: 'acme-pg', skip_final_snapshot: true }),
    'deleted',
  )

  assert.equal((await db.ensureRole({ name: 'acme', password: new Secret('pw-1') })).outcome, 'created')
  assert.equal((await db.ensureDatabase({ name: 'acme', owner: 'acme' })).outcome, 'created')
  const seed = { database: 'acme', id: 'initial-data', sql: 'CREATE TABLE t (x int);' }
  assert.equal((await db.applySeed(seed)).outcome, 'created')
  assert.equal((await db.applySeed(seed)).outcome, 'unchanged')
  await assert.rejects(db.applySeed({ ...seed, sql: 'DROP TABLE t;' }), ConflictError)
  assert.equal(await db.databaseExists('acme'), true)
  assert.equal(await db.roleExists('acme'), true)
  await assert.rejects(db.dropDatabase('acme', 'acme_typo'), ProtectedError)
  assert.equal(await db.dropDatabase('acme', 'acme'), 'deleted')
  assert.equal(await db.dropRole('acme', 'acme'), 'deleted')
  assert.equal(await db.databaseExists('acme'), false)
})

test('database: dump to storage and restore, never over a live database', async () => {
  const providers = await Providers.memory()
  const db = providers.database()
  const storage = providers.storage()
  assert.equal(db.capabilities().dump_restore, true)
  await storage.ensureBucket({ name: 'acme-archive' })
  await db.ensureRole({ name: 'acme', password: 'role-pass-123' })
  await db.ensureDatabase({ name: 'acme', owner: 'acme' })
  await db.applySeed({ database: 'acme', id: 'initial', sql: 'CREATE TABLE t (x int);' })
  const dump = await db.dumpToStorage('acme', storage, 'acme-archive', 'acme/db.dump')
  assert.ok(dump.size > 0)
  assert.equal(dump.sha256.length, 64)
  await assert.rejects(
    db.restoreFromStorage({ name: 'acme', owner: 'acme' }, storage, 'acme-archive', 'acme/db.dump'),
    ConflictError,
  )
  assert.equal(await db.dropDatabase('acme', 'acme'), 'deleted')
  const restored = await db.restoreFromStorage(
    { name: 'acme', owner: 'acme' },
    storage,
    'acme-archive',
    'acme/db.dump',
    { size: dump.size, sha256: dump.sha256 },
  )
  assert.deepEqual(restored, { database: 'acme', created: true, bytes: dump.size })
  const seed = await db.applySeed({ database: 'acme', id: 'initial', sql: 'CREATE TABLE t (x int);' })
  assert.equal(seed.outcome, 'unchanged')
})

test('repo: branches and commits of Buffers and strings', async () => {
  const providers = await Providers.memory()
  const repo = providers.repo()
  const branch = await repo.ensureBranch('acme', 'main')
  assert.equal(branch.outcome, 'created')
  const author = { name: 'provisio', email: 'provisio@example.com' }
  const commit = await repo.writeFiles({
    branch: 'acme',
    files: { 'config.yml': 'tenant: acme\n', 'logo.bin': Buffer.from([1, 2, 3]) },
    message: 'Configure acme',
    author,
  })
  assert.equal(commit.outcome, 'updated')
  const again = await repo.writeFiles({
    branch: 'acme',
    files: { 'config.yml': 'tenant: acme\n' },
    message: 'again',
    author,
  })
  assert.equal(again.outcome, 'unchanged')
  assert.equal(again.value.head, commit.value.head)
  assert.equal((await repo.readFile('acme', 'config.yml'))?.toString(), 'tenant: acme\n')
  assert.deepEqual(await repo.readFile('acme', 'logo.bin'), Buffer.from([1, 2, 3]))
  assert.equal(await repo.readFile('acme', 'missing'), null)
  assert.equal((await repo.getBranch('acme'))?.head, commit.value.head)
  await assert.rejects(repo.ensureBranch('x', 'no-such-base'), NotFoundError)
  assert.equal(await repo.deleteBranch('acme'), 'deleted')
  assert.equal(await repo.getBranch('acme'), null)
})

test('mail: identities', async () => {
  const providers = await Providers.memory()
  const mail = providers.mail()
  const identity = await mail.ensureIdentity('acme.example.com', { tenant: 'acme' })
  assert.equal(identity.outcome, 'created')
  assert.equal(identity.value.kind, 'domain')
  assert.equal(identity.value.dns_records.length, 3)
  assert.equal(world(providers).verifyMailIdentity('acme.example.com'), true)
  assert.equal((await mail.getIdentity('acme.example.com'))?.status, 'success')
  assert.equal(await mail.deleteIdentity('acme.example.com'), 'deleted')
  assert.equal(await mail.getIdentity('acme.example.com'), null)
})

test('memory world: fault injection, call log, inventory, fixtures', async () => {
  const providers = await Providers.memory({
    seed: 42,
    fixtures: { storage: { buckets: [{ name: 'shared-assets', objects: { 'a.txt': 'a' } }] } },
    calls: { retry: { max_attempts: 1 } }, // retries off: each injected failure reaches the caller
  })
  const w = world(providers)
  assert.equal(w.faults.seed, 42)
  assert.equal(w.inventory()['storage.bucket'] ? 'ok' : 'missing', 'ok')
  assert.ok(Object.keys(w.inventory()['storage.object'] ?? {}).includes('shared-assets/a.txt'))

  w.faults.resetCounters() // the fixtures' calls count too
  w.faults.errorOnCall('storage.put_object', 1, 'transient')
  const storage = providers.storage()
  const err = await storage.putObject('shared-assets', 'b.txt', 'b').then(
    () => assert.fail('the first put must fail'),
    (e) => e,
  )
  assert.ok(err instanceof TransientError)
  assert.ok(err instanceof ProvisioError)
  assert.equal(err.kind, 'transient')
  assert.equal(err.retryable, true)
  assert.equal(err.operation, 'storage.put_object')
  await storage.putObject('shared-assets', 'b.txt', 'b')
  assert.equal(w.faults.calls('storage.put_object'), 2)
  assert.equal(w.faults.mutations('storage.*'), 1)
  assert.equal(w.faults.injected().length, 1)
  assert.equal(w.faults.injected()[0].outcome.outcome, 'injected')
  assert.ok(w.faults.callLog().length >= 2)
  assert.throws(() => w.faults.errorRate('*', 0.5, /** @type {any} */ ('boom')), InvalidInputError)

  await w.applyFixtures({ dns: { zones: [{ name: 'example.org' }] } })
  assert.deepEqual(Object.keys(w.inventory()['dns.zone'] ?? {}), ['example.org'])
  w.faults.clear()
  w.faults.resetCounters()
  assert.equal(w.faults.calls('*'), 0)
  assert.deepEqual(w.retired(), {})
})

test('direct calls retry transient failures by default', async () => {
  const providers = await Providers.memory({ fixtures: { dns: { zones: [{ name: 'example.com' }] } } })
  const w = world(providers)
  const dns = providers.dns()
  const zone = await dns.findZone('example.com')
  assert.ok(zone)
  w.faults.resetCounters()
  w.faults.errorOnCall('dns.ensure_record', 1, 'transient')
  const made = await dns.ensureRecord(zone, { name: 'www.example.com', type: 'A', content: '192.0.2.10', ttl: 300 })
  assert.equal(made.outcome, 'created')
  assert.equal(w.faults.calls('dns.ensure_record'), 2)
  assert.equal(w.faults.injected().length, 1)
  assert.ok(Object.keys(w.inventory()['dns.record'] ?? {}).includes('A www.example.com'))

  // not retryable: one call; a call that keeps failing gives up after max_attempts
  w.faults.clear()
  w.faults.resetCounters()
  w.faults.errorOnCall('dns.ensure_record', 1, 'permission_denied')
  await assert.rejects(dns.ensureRecord(zone, { name: 'api.example.com', type: 'A', content: '192.0.2.11', ttl: 300 }))
  assert.equal(w.faults.calls('dns.ensure_record'), 1)
  const few = await Providers.memory({
    fixtures: { dns: { zones: [{ name: 'example.com' }] } },
    calls: { retry: { max_attempts: 3, initial_backoff_ms: 1, max_backoff_ms: 2 } },
  })
  world(few).faults.resetCounters()
  world(few).faults.errorRate('dns.find_zone', 1.0, 'transient')
  await assert.rejects(few.dns().findZone('example.com'), TransientError)
  assert.equal(world(few).faults.calls('dns.find_zone'), 3)
})

test('setLogger: provisio log records reach JavaScript', async () => {
  /** @type {import('../index.js').LogRecord[]} */
  const records = []
  setLogger((r) => records.push(r), 'debug')
  try {
    const providers = await Providers.memory({ fixtures: { dns: { zones: [{ name: 'example.com' }] } } })
    world(providers).faults.errorOnCall('dns.find_zone', 1, 'transient')
    assert.ok(await providers.dns().findZone('example.com'))
    // records are queued to this thread: let them arrive
    for (let i = 0; i < 50 && !records.some((r) => r.target === 'provisio::layer::trace'); i++) {
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
    const retried = records.find((r) => r.target === 'provisio::layer::retry')
    assert.ok(retried, JSON.stringify(records.slice(0, 5)))
    assert.equal(retried.level, 'info')
    assert.match(retried.message, /retrying/)
    assert.match(retried.message, /dns\.find_zone/)
    assert.ok(records.some((r) => r.target === 'provisio::layer::trace' && r.level === 'debug'))
    assert.throws(() => setLogger(() => {}, /** @type {any} */ ('loud')), InvalidInputError)
  } finally {
    setLogger(null)
  }
})

test('providers: from a configuration object, summary, unknown kinds', async () => {
  const providers = await Providers.connect({
    providers: { dns: { default: { kind: 'memory' } }, storage: { archive: { kind: 'memory' } } },
  })
  assert.deepEqual(providers.summary(), [
    { capability: 'dns', name: 'default', kind: 'memory' },
    { capability: 'storage', name: 'archive', kind: 'memory' },
  ])
  assert.equal(providers.storage('archive').info().name, 'memory')
  assert.throws(() => providers.storage(), InvalidInputError)
  assert.ok(Providers.kinds().includes('memory'))
  await assert.rejects(
    Providers.connect({ providers: { dns: { default: { kind: 'nonesuch' } } } }),
    (e) => e instanceof InvalidInputError && /nonesuch/.test(e.message),
  )
  await assert.rejects(
    Providers.connect(/** @type {any} */ ({ providers: { dns: { default: { kind: 'memory' } } }, bogus: 1 })),
    InvalidInputError,
  )
})
