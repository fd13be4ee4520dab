// @ts-check
// The package loads from CommonJS and from ESM, and both give the same objects.
const { test } = require('node:test')
const assert = require('node:assert/strict')
const provisio = require('..')

test('require and import give the same classes', async () => {
  const esm = await import('../index.mjs')
  assert.equal(esm.Engine, provisio.Engine)
  assert.equal(esm.Providers, provisio.Providers)
  assert.equal(esm.default.Secret, provisio.Secret)
  assert.deepEqual(provisio.ERROR_KINDS.length, 13)
  const providers = await provisio.Providers.memory()
  assert.ok(providers instanceof provisio.Providers)
})

test('the example runs', () => {
  const { execFileSync } = require('node:child_process')
  const path = require('node:path')
  const out = execFileSync(process.execPath, [path.join(__dirname, '..', 'examples', 'launch.mjs'), 'demo'], {
    encoding: 'utf8',
  })
  assert.match(out, /https:\/\/demo\.example\.com is live/)
  assert.match(out, /no changes left: true/)
  assert.ok(!out.includes('example-smtp-password'))
})
