// @ts-check
// The Cloudflare and Jenkins parts of the launch against their fakes (started by
// scripts/services.sh, which exports the variables below). Without the variables these tests
// are skipped; with them they run (and fail if this build lacks the provider kind).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { Providers, Engine, Blueprint, Secret } from '../index.mjs'
import { LAUNCH, LAUNCH_FIXTURES } from './helpers.mjs'

const env = process.env
const cloudflare = env.PROVISIO_TEST_CLOUDFLARE_URL && env.PROVISIO_TEST_CLOUDFLARE_TOKEN && env.PROVISIO_TEST_CLOUDFLARE_ZONE
const jenkins = env.PROVISIO_TEST_JENKINS_URL && env.PROVISIO_TEST_JENKINS_USER && env.PROVISIO_TEST_JENKINS_TOKEN
const skipCloudflare = cloudflare ? false : 'PROVISIO_TEST_CLOUDFLARE_URL/_TOKEN/_ZONE not set (scripts/services.sh exports them)'
const skipJenkins = jenkins ? false : 'PROVISIO_TEST_JENKINS_URL/_USER/_TOKEN not set (scripts/services.sh exports them)'

/** Provider entries naming the fakes; credentials stay in the environment. */
function cloudflareEntry() {
  return {
    kind: 'cloudflare',
    base_url: String(env.PROVISIO_TEST_CLOUDFLARE_URL),
    api_token_env: 'PROVISIO_TEST_CLOUDFLARE_TOKEN',
  }
}
function jenkinsEntry() {
  return {
    kind: 'jenkins',
    url: String(env.PROVISIO_TEST_JENKINS_URL),
    user: String(env.PROVISIO_TEST_JENKINS_USER),
    api_token_env: 'PROVISIO_TEST_JENKINS_TOKEN',
  }
}

/** @param {string} kind */
function requireKind(kind) {
  assert.ok(
    Providers.kinds().includes(kind),
    `this build of provisio-config has no ${kind} provider kind (kinds: ${Providers.kinds().join(', ')})`,
  )
}

function uniqueTenant() {
  return `n${randomBytes(4).toString('hex')}`
}

test('cloudflare: direct DNS operations through Prism', { skip: skipCloudflare }, async () => {
  requireKind('cloudflare')
  const providers = await Providers.connect({ providers: { dns: { default: cloudflareEntry() } } })
  const dns = providers.dns()
  assert.equal(dns.info().name, 'cloudflare')
  const zone = await dns.findZone(String(env.PROVISIO_TEST_CLOUDFLARE_ZONE))
  assert.ok(zone, 'the fake serves the test zone')
  const name = `${uniqueTenant()}.${zone.name}`
  const spec = { name, type: 'A', content: '192.0.2.44', ttl: 300 }
  assert.equal((await dns.ensureRecord(zone, spec)).outcome, 'created')
  assert.equal((await dns.ensureRecord(zone, spec)).outcome, 'unchanged')
  assert.equal((await dns.getRecord(zone, name, 'A'))?.content, '192.0.2.44')
  assert.equal(await dns.deleteRecord(zone, name, 'A'), 'deleted')
  assert.equal(await dns.deleteRecord(zone, name, 'A'), 'already_gone')
})

test('jenkins: direct CI operations on the fake', { skip: skipJenkins }, async () => {
  requireKind('jenkins')
  const providers = await Providers.connect({ providers: { ci: { default: jenkinsEntry() } } })
  const ci = providers.ci()
  assert.equal(ci.info().name, 'jenkins')
  const path = `node-${uniqueTenant()}`
  const xml = "<?xml version='1.1' encoding='UTF-8'?>\n<project>\n  <builders/>\n</project>\n"
  assert.equal((await ci.ensureJob(path, xml)).outcome, 'created')
  assert.equal((await ci.ensureJob(path, xml)).outcome, 'unchanged')
  assert.ok((await ci.getJobConfig(path))?.includes('<project>'))
  const build = await ci.triggerBuild(path)
  assert.equal(await ci.waitForBuild(build, 30_000), 'SUCCESS')
  assert.equal(await ci.deleteJob(path), 'deleted')
  assert.equal(await ci.getJobConfig(path), null)
})

test(
  'launch with DNS on Cloudflare and CI on Jenkins (the rest in memory)',
  { skip: skipCloudflare || skipJenkins },
  async () => {
    requireKind('cloudflare')
    requireKind('jenkins')
    const providers = await Providers.connect({
      fallback: 'memory',
      memory: { fixtures: LAUNCH_FIXTURES },
      providers: { dns: { default: cloudflareEntry() }, ci: { default: jenkinsEntry() } },
    })
    const engine = new Engine(providers)
    const bp = Blueprint.load(LAUNCH)
    const zone = String(env.PROVISIO_TEST_CLOUDFLARE_ZONE)
    const name = uniqueTenant()
    const tenant = { name, vars: { domain: zone }, secrets: { smtp_password: new Secret('smtp-secret-value') } }

    const applied = await engine.apply(bp, tenant)
    assert.equal(applied.success, true, JSON.stringify(applied.errors))
    const dns = providers.dns()
    const z = await dns.findZone(zone)
    assert.ok(z)
    assert.equal((await dns.getRecord(z, `${name}.${zone}`, 'A'))?.ttl, 300)
    assert.equal((await dns.getRecord(z, `${name}.stg.${zone}`, 'CNAME'))?.content, `${name}.${zone}`)
    const ci = providers.ci()
    assert.ok((await ci.getJobConfig(`web_build-${name}`))?.includes(name))
    assert.ok((await ci.getJobConfig('core_build-stg'))?.includes(`core_release-stg-${name}`))

    assert.equal((await engine.plan(bp, tenant)).has_changes, false)
    const destroyed = await engine.destroy(bp, tenant, { allow: ['database'] })
    assert.equal(destroyed.success, true, JSON.stringify(destroyed.errors))
    assert.equal(await dns.getRecord(z, `${name}.${zone}`, 'A'), null)
    assert.equal(await ci.getJobConfig(`web_build-${name}`), null)
    assert.ok(!(await ci.getJobConfig('core_build-stg'))?.includes(`core_release-stg-${name}`))
  },
)
