'use strict'
// provisio for Node.js. The native addon (native.js + provisio.<platform>.node, built from
// src/ by napi-rs) does the work; this file adds what JavaScript needs on top of it:
//  - ProvisioError (and one subclass per error kind) decoded from the addon's errors,
//  - Secret, whose toString / toJSON / util.inspect never show the value,
//  - AbortSignal support, tenant and blueprint coercion, and custom steps as async functions.

const util = require('node:util')
const native = require('./native.js')

const MARKER = 'PROVISIO_ERROR:'
const REDACTED = '***redacted***'

// ---------------------------------------------------------------------------------- errors

const ERROR_CLASSES = {
  not_found: 'NotFoundError',
  already_exists: 'AlreadyExistsError',
  conflict: 'ConflictError',
  invalid_input: 'InvalidInputError',
  permission_denied: 'PermissionDeniedError',
  unauthenticated: 'UnauthenticatedError',
  rate_limited: 'RateLimitedError',
  transient: 'TransientError',
  timeout: 'TimeoutError',
  protected: 'ProtectedError',
  unsupported: 'UnsupportedError',
  cancelled: 'CancelledError',
  unexpected: 'UnexpectedError',
}
const RETRYABLE = new Set(['rate_limited', 'transient', 'timeout'])

/** The one error type of provisio: a kind, whether a retry may help, and where it happened. */
class ProvisioError extends Error {
  constructor(kind, message, fields = {}) {
    super(message)
    this.name = ERROR_CLASSES[kind] ?? 'ProvisioError'
    this.kind = kind
    this.retryable = fields.retryable ?? RETRYABLE.has(kind)
    this.provider = fields.provider ?? null
    this.operation = fields.operation ?? null
    this.resource = fields.resource ?? null
    this.retryAfterMs = fields.retryAfterMs ?? null
    this.detail = fields.detail ?? message
    if (fields.step !== undefined) this.step = fields.step
    // A failed apply/destroy's run report: not enumerable, so logging the error stays short.
    if (fields.report !== undefined) {
      Object.defineProperty(this, 'report', { value: fields.report, writable: true, configurable: true })
    }
  }
}

const errorClasses = {}
for (const [kind, name] of Object.entries(ERROR_CLASSES)) {
  // A named class per kind, so `catch (e) { if (e instanceof NotFoundError) ... }` reads well.
  errorClasses[name] = {
    [name]: class extends ProvisioError {
      constructor(message, fields) {
        super(kind, message, fields)
      }
    },
  }[name]
}
const classByKind = Object.fromEntries(
  Object.entries(ERROR_CLASSES).map(([kind, name]) => [kind, errorClasses[name]]),
)

function fromPayload(p) {
  const fields = {
    retryable: p.retryable,
    provider: p.provider,
    operation: p.operation,
    resource: p.resource,
    retryAfterMs: p.retry_after_ms,
    detail: p.detail,
    step: p.step,
    report: p.report === undefined ? undefined : report(p.report),
  }
  const Class = classByKind[p.kind]
  return Class ? new Class(p.message, fields) : new ProvisioError(p.kind, p.message, fields)
}

/** The addon's error as a ProvisioError (other errors pass through). */
function convertError(e) {
  if (e instanceof Error && typeof e.message === 'string' && e.message.startsWith(MARKER)) {
    let payload
    try {
      payload = JSON.parse(e.message.slice(MARKER.length))
    } catch {
      return e
    }
    const err = fromPayload(payload)
    if (e.stack) err.stack = `${err.name}: ${err.message}\n${e.stack.split('\n').slice(1).join('\n')}`
    return err
  }
  return e
}

function guarded(fn) {
  return function guardedCall(...args) {
    let result
    try {
      result = fn.apply(this, args)
    } catch (e) {
      throw convertError(e)
    }
    if (result && typeof result.then === 'function') {
      return result.then(undefined, (e) => {
        throw convertError(e)
      })
    }
    return result
  }
}

/** Makes every method and getter of a native class throw ProvisioErrors. */
function guardClass(Class) {
  const proto = Class.prototype
  for (const name of Object.getOwnPropertyNames(proto)) {
    if (name === 'constructor') continue
    const d = Object.getOwnPropertyDescriptor(proto, name)
    if (!d || !d.configurable) continue
    if (typeof d.value === 'function') {
      Object.defineProperty(proto, name, { ...d, value: guarded(d.value) })
    } else if (typeof d.get === 'function') {
      Object.defineProperty(proto, name, { ...d, get: guarded(d.get) })
    }
  }
  return Class
}

/** Installs a module function of the addon as a static method (napi's own statics are read-only). */
function installStatic(Class, name, fn) {
  Object.defineProperty(Class, name, { value: guarded(fn), writable: true, configurable: true, enumerable: false })
}

// ---------------------------------------------------------------------------------- secrets

/** A secret value that never shows itself: toString, toJSON and util.inspect are redacted. */
class Secret {
  #value
  constructor(value) {
    if (typeof value !== 'string') throw new TypeError('a Secret holds a string')
    this.#value = value
  }
  /** The value. Never log it. */
  reveal() {
    return this.#value
  }
  toString() {
    return REDACTED
  }
  toJSON() {
    return REDACTED
  }
  [Symbol.toPrimitive]() {
    return REDACTED
  }
  [util.inspect.custom]() {
    return `Secret(${REDACTED})`
  }
  get [Symbol.toStringTag]() {
    return 'Secret'
  }
}

function reveal(v) {
  return v instanceof Secret ? v.reveal() : v
}

function withRevealed(spec, fields) {
  if (!spec || typeof spec !== 'object') return spec
  const out = { ...spec }
  for (const f of fields) if (f in out) out[f] = reveal(out[f])
  return out
}

// -------------------------------------------------------------------- native classes, guarded

for (const name of [
  'Providers',
  'Dns',
  'Storage',
  'Compute',
  'Ci',
  'Secrets',
  'Database',
  'Repo',
  'Mail',
  'MemoryCloud',
  'Faults',
  'Blueprint',
  'CancelToken',
]) {
  guardClass(native[name])
}
installStatic(native.Providers, 'connect', native.providersConnect)
installStatic(native.Providers, 'memory', native.providersMemory)
installStatic(native.Providers, 'kinds', native.providerKinds)
installStatic(native.Blueprint, 'load', native.blueprintLoad)
installStatic(native.Blueprint, 'parse', native.blueprintParse)
installStatic(native.Blueprint, 'fromObject', native.blueprintFromObject)
installStatic(native.Blueprint, 'fromYaml', (text) => native.blueprintParse(text, 'yaml'))
installStatic(native.Blueprint, 'fromJson', (text) => native.blueprintParse(text, 'json'))

{
  const proto = native.Secrets.prototype
  const put = proto.putSecret
  const get = proto.getSecret
  proto.putSecret = function putSecret(name, value, tags) {
    return put.call(this, name, reveal(value), tags)
  }
  proto.getSecret = async function getSecret(name) {
    const v = await get.call(this, name)
    return { value: new Secret(v.value), version: v.version }
  }
  const db = native.Database.prototype
  const ensureServer = db.ensureServer
  const ensureRole = db.ensureRole
  db.ensureServer = function (spec) {
    return ensureServer.call(this, withRevealed(spec, ['admin_password']))
  }
  db.ensureRole = function (spec) {
    return ensureRole.call(this, withRevealed(spec, ['password']))
  }
}

// ---------------------------------------------------------------------------------- engine

const { Blueprint, CancelToken } = native

function toBlueprint(bp) {
  if (bp instanceof Blueprint) return bp
  if (typeof bp === 'string') return Blueprint.load(bp)
  if (bp && typeof bp === 'object') return Blueprint.fromObject(bp)
  throw new TypeError('blueprint: expected a Blueprint, a path or a blueprint object')
}

function toTenant(t) {
  if (typeof t === 'string') return t
  if (!t || typeof t !== 'object') throw new TypeError('tenant: expected a name or { name, vars, secrets }')
  const out = { name: t.name }
  if (t.vars) out.vars = t.vars
  if (t.secrets) {
    out.secrets = {}
    for (const [k, v] of Object.entries(t.secrets)) out.secrets[k] = reveal(v)
  }
  return out
}

async function withSignal(signal, run) {
  if (!signal) return run(undefined)
  const token = new CancelToken()
  if (signal.aborted) token.cancel()
  const onAbort = () => token.cancel()
  signal.addEventListener('abort', onAbort, { once: true })
  try {
    return await run(token)
  } finally {
    signal.removeEventListener('abort', onAbort)
  }
}

/** A run report from the addon (also a failed run's `error.report`): its errors as ProvisioErrors. */
function report(r) {
  r.errors = r.errors.map(fromPayload)
  return r
}

function callbackGuard(label, fn) {
  return (event) => {
    try {
      fn(event)
    } catch (e) {
      process.emitWarning(`provisio: the ${label} callback threw: ${e && e.stack ? e.stack : e}`)
    }
  }
}

function errorEnvelope(e) {
  return {
    ok: false,
    error: {
      kind: e && typeof e.kind === 'string' ? e.kind : 'unexpected',
      message: String(e && e.message !== undefined ? e.message : e),
      retry_after_ms: e && typeof e.retryAfterMs === 'number' ? e.retryAfterMs : undefined,
    },
  }
}

/** A custom step as the addon calls it: one dispatch function resolving to an envelope. */
function stepDefinition(def) {
  if (!def || typeof def.type !== 'string' || typeof def.apply !== 'function') {
    throw new TypeError('steps: each step needs a type and an async apply(ctx, params, prior)')
  }
  const operations = ['apply']
  if (typeof def.read === 'function') operations.push('read')
  if (typeof def.delete === 'function') operations.push('delete')
  const call = async (arg) => {
    try {
      switch (arg.op) {
        case 'apply': {
          const r = (await def.apply(arg.ctx, arg.params, arg.prior ?? null)) ?? {}
          return { ok: true, value: { outputs: r.outputs ?? {}, outcome: r.outcome } }
        }
        case 'read':
          return { ok: true, value: (await def.read(arg.ctx, arg.params, arg.prior ?? null)) ?? null }
        case 'delete':
          return { ok: true, value: (await def.delete(arg.ctx, arg.params, arg.outputs ?? null)) ?? 'deleted' }
        default:
          throw new Error(`unknown step operation ${arg.op}`)
      }
    } catch (e) {
      return errorEnvelope(e)
    }
  }
  return {
    type: def.type,
    outputs: def.outputs ?? [],
    replaceFields: def.replaceFields ?? [],
    operations,
    call,
  }
}

/** The provisioning engine: plan, apply, destroy, refresh, outputs, lifecycle transitions and fleet runs. */
class Engine {
  #native
  constructor(providers, options = {}) {
    const { onEvent, steps, ...rest } = options
    const opts = { ...rest }
    if (onEvent) opts.onEvent = callbackGuard('onEvent', onEvent)
    if (steps) opts.steps = (Array.isArray(steps) ? steps : Object.values(steps)).map(stepDefinition)
    try {
      this.#native = new native.Engine(providers, opts)
    } catch (e) {
      throw convertError(e)
    }
  }

  async plan(blueprint, tenant, options = {}) {
    const { signal: _signal, ...rest } = options
    return guarded(() => this.#native.plan(toBlueprint(blueprint), toTenant(tenant), rest))()
  }

  async apply(blueprint, tenant, options = {}) {
    const { signal, ...rest } = options
    const bp = guarded(toBlueprint)(blueprint)
    return withSignal(signal, (token) =>
      guarded(() => this.#native.apply(bp, toTenant(tenant), rest, token))(),
    ).then(report)
  }

  async destroy(blueprint, tenant, options = {}) {
    const { signal, ...rest } = options
    const bp = guarded(toBlueprint)(blueprint)
    return withSignal(signal, (token) =>
      guarded(() => this.#native.destroy(bp, toTenant(tenant), rest, token))(),
    ).then(report)
  }

  async refresh(blueprint, tenant, options = {}) {
    const { signal, ...rest } = options
    const bp = guarded(toBlueprint)(blueprint)
    return withSignal(signal, (token) =>
      guarded(() => this.#native.refresh(bp, toTenant(tenant), rest, token))(),
    )
  }

  async outputs(tenant) {
    return guarded(() => this.#native.outputs(typeof tenant === 'string' ? tenant : tenant.name))()
  }

  async transition(blueprint, tenant, transition, options = {}) {
    const { signal, ...rest } = options
    const bp = guarded(toBlueprint)(blueprint)
    return withSignal(signal, (token) =>
      guarded(() => this.#native.transition(bp, toTenant(tenant), transition, rest, token))(),
    ).then(report)
  }

  async planTransition(blueprint, tenant, transition, options = {}) {
    const { signal: _signal, ...rest } = options
    return guarded(() =>
      this.#native.planTransition(toBlueprint(blueprint), toTenant(tenant), transition, rest),
    )()
  }

  async phase(tenant) {
    return guarded(() => this.#native.phase(typeof tenant === 'string' ? tenant : tenant.name))()
  }

  async fleet(blueprint, tenants, options) {
    const { fleetId, signal, onEvent, destroy, maxFailures, maxFailureRatio, ...rest } = options ?? {}
    if (typeof fleetId !== 'string') throw new TypeError('fleet: options.fleetId (a string) is required')
    const bp = guarded(toBlueprint)(blueprint)
    const list = [...tenants].map(toTenant)
    const cb = onEvent ? callbackGuard('fleet onEvent', onEvent) : undefined
    const opts = { ...rest, operation: destroy ? 'destroy' : 'apply' }
    if (maxFailureRatio !== undefined) opts.maxFailures = { fraction: maxFailureRatio }
    else if (maxFailures !== undefined) opts.maxFailures = maxFailures
    return withSignal(signal, (token) =>
      guarded(() => this.#native.fleet(fleetId, bp, list, opts, token, cb))(),
    )
  }
}

/**
 * Sends provisio's log records (`{ level, target, message }`) at `level` and above to
 * `callback`; `null` stops them.
 */
function setLogger(callback, level = 'info') {
  if (callback !== null && typeof callback !== 'function') {
    throw new TypeError('setLogger: callback must be a function or null')
  }
  return guarded(() => native.setLogger(callback ? callbackGuard('logger', callback) : null, level))()
}

module.exports = {
  setLogger,
  Providers: native.Providers,
  Dns: native.Dns,
  Storage: native.Storage,
  Compute: native.Compute,
  Ci: native.Ci,
  Secrets: native.Secrets,
  Database: native.Database,
  Repo: native.Repo,
  Mail: native.Mail,
  MemoryCloud: native.MemoryCloud,
  Faults: native.Faults,
  Blueprint,
  Engine,
  Secret,
  ProvisioError,
  ...errorClasses,
  ERROR_KINDS: Object.keys(ERROR_CLASSES),
  REDACTED,
}
