// Type declarations of the `provisio` package (hand-written over the addon's generated
// native.d.ts, which types every value as `any`). Values are the library's own JSON shapes:
// snake_case fields, exactly as the CLI's --json output and the Python binding show them;
// methods and options are camelCase.
/// <reference types="node" />
import { inspect } from 'node:util'

// ------------------------------------------------------------------------------ common values

export type Tags = Record<string, string>
export type Outcome = 'created' | 'updated' | 'unchanged'
export type Deleted = 'deleted' | 'already_gone'
export interface Ensured<T> {
  value: T
  outcome: Outcome
}
export interface Page<T> {
  items: T[]
  /** The token of the next page; `null` on the last page. */
  next: string | null
}
export interface PageRequest {
  token?: string | null
  limit?: number | null
}
export interface Quota {
  requests: number
  /** The window in milliseconds. */
  per: number
}
export interface ProviderInfo {
  name: string
  account: string
  quota: Quota | null
}
export type Capability = 'dns' | 'storage' | 'compute' | 'ci' | 'secrets' | 'database' | 'repo' | 'mail' | 'probe' | 'host'
export type JsonObject = { [key: string]: unknown }

// ------------------------------------------------------------------------------ errors

export type ErrorKind =
  | 'not_found'
  | 'already_exists'
  | 'conflict'
  | 'invalid_input'
  | 'permission_denied'
  | 'unauthenticated'
  | 'rate_limited'
  | 'transient'
  | 'timeout'
  | 'protected'
  | 'unsupported'
  | 'cancelled'
  | 'unexpected'

export interface ProvisioErrorFields {
  retryable?: boolean
  provider?: string | null
  operation?: string | null
  resource?: string | null
  retryAfterMs?: number | null
  detail?: string
  step?: string
  report?: RunReport
}

/** provisio's one error type. Every failure of the library is an instance (of a subclass per kind). */
export declare class ProvisioError extends Error {
  constructor(kind: ErrorKind, message: string, fields?: ProvisioErrorFields)
  readonly kind: ErrorKind
  /** Whether retrying the same call may succeed (rate_limited, transient, timeout). */
  readonly retryable: boolean
  /** The provider that reported it (`memory`, `cloudflare`, ...). */
  readonly provider: string | null
  /** The operation that failed (`dns.ensure_record`). */
  readonly operation: string | null
  /** The resource concerned (a name or id, never a secret value). */
  readonly resource: string | null
  /** The provider's wait hint for `rate_limited`. */
  readonly retryAfterMs: number | null
  /** The message without the kind/provider/operation decoration. */
  readonly detail: string
  /** In a run report's `errors`, and on a failed run's error: the blueprint resource whose step failed. */
  readonly step?: string
  /**
   * On the error a failed `apply`/`destroy` rejects with (its first error): the run report, as
   * `check: false` would have resolved it (`success: false`, `errors`, what was rolled back).
   * Not enumerable.
   */
  readonly report?: RunReport
}
type KindError = new (message: string, fields?: ProvisioErrorFields) => ProvisioError
export declare const NotFoundError: KindError
export declare const AlreadyExistsError: KindError
export declare const ConflictError: KindError
export declare const InvalidInputError: KindError
export declare const PermissionDeniedError: KindError
export declare const UnauthenticatedError: KindError
export declare const RateLimitedError: KindError
export declare const TransientError: KindError
export declare const TimeoutError: KindError
export declare const ProtectedError: KindError
export declare const UnsupportedError: KindError
export declare const CancelledError: KindError
export declare const UnexpectedError: KindError
export declare const ERROR_KINDS: ErrorKind[]

// ------------------------------------------------------------------------------ secrets

export declare const REDACTED: '***redacted***'
/** One log record of provisio (a `tracing` event). */
export interface LogRecord {
  level: 'error' | 'warn' | 'info' | 'debug' | 'trace'
  /** The Rust module that logged it: `provisio_engine::run::step`, `provisio::layer::retry`, ... */
  target: string
  message: string
}
/** Sends provisio's log records at `level` (default `info`) and above to `callback`; `null` stops them. */
export declare function setLogger(
  callback: ((record: LogRecord) => void) | null,
  level?: 'off' | 'error' | 'warn' | 'info' | 'debug' | 'trace',
): void

/** A secret value: `toString`, `toJSON`, template literals and `util.inspect` show `***redacted***`. */
export declare class Secret {
  constructor(value: string)
  /** The value. Never log it. */
  reveal(): string
  toString(): string
  toJSON(): string
  [inspect.custom](): string
}
export type SecretInput = string | Secret

// ------------------------------------------------------------------------------ dns

export type RecordType = 'A' | 'AAAA' | 'CNAME' | 'TXT' | 'MX' | (string & {})
export interface Zone {
  id: string
  name: string
}
export interface RecordSpec {
  name: string
  type: RecordType
  content: string
  ttl: number
  proxied?: boolean | null
  priority?: number | null
}
export interface DnsRecord {
  id: string | null
  name: string
  type: RecordType
  content: string
  ttl: number
  proxied: boolean | null
  priority: number | null
}
export interface DnsCapabilities {
  proxied: boolean
  min_ttl: number
  automatic_ttl: boolean
  waits_for_sync: boolean
}
export declare class Dns {
  private constructor()
  info(): ProviderInfo
  capabilities(): DnsCapabilities
  findZone(name: string): Promise<Zone | null>
  listRecords(zone: Zone, page?: PageRequest): Promise<Page<DnsRecord>>
  getRecord(zone: Zone, name: string, type: RecordType): Promise<DnsRecord | null>
  ensureRecord(zone: Zone, spec: RecordSpec): Promise<Ensured<DnsRecord>>
  deleteRecord(zone: Zone, name: string, type: RecordType): Promise<Deleted>
}

// ------------------------------------------------------------------------------ storage

export interface BucketSpec {
  name: string
  versioning?: boolean
  archive_after_days?: number | null
  block_public_access?: boolean
  tags?: Tags
}
export interface Bucket {
  name: string
  versioning: boolean
  archive_after_days: number | null
  block_public_access: boolean
  tags: Tags
}
export type StorageClass = 'standard' | 'infrequent_access' | 'archive' | 'deep_archive'
export interface ObjectMeta {
  key: string
  size: number
  etag: string
  content_type: string | null
  storage_class: StorageClass
}
export interface ClassChange {
  changed: number
  unchanged: number
  pending: number
}
export interface ExpiryRule {
  id: string
  prefix: string
  days: number
}
export interface StorageCapabilities {
  versioning: boolean
  archive_lifecycle: boolean
  public_access_block: boolean
  tags: boolean
  max_put_size: number
  storage_classes: StorageClass[]
  expiry_rules: boolean
}
export declare class Storage {
  private constructor()
  info(): ProviderInfo
  capabilities(): StorageCapabilities
  ensureBucket(spec: BucketSpec): Promise<Ensured<Bucket>>
  getBucket(name: string): Promise<Bucket | null>
  deleteBucket(name: string): Promise<Deleted>
  putObject(bucket: string, key: string, body: Buffer | string, contentType?: string | null): Promise<ObjectMeta>
  getObject(bucket: string, key: string): Promise<{ body: Buffer; meta: ObjectMeta }>
  headObject(bucket: string, key: string): Promise<ObjectMeta | null>
  listObjects(bucket: string, prefix: string, page?: PageRequest): Promise<Page<ObjectMeta>>
  deleteObject(bucket: string, key: string): Promise<Deleted>
  copyPrefix(srcBucket: string, srcPrefix: string, dstBucket: string, dstPrefix: string): Promise<number>
  deletePrefix(bucket: string, prefix: string): Promise<number>
  /** `storageClass`: a StorageClass or a provider's spelling (`GLACIER`, `Archive`, ...). */
  setStorageClass(bucket: string, key: string, storageClass: StorageClass | string): Promise<ObjectMeta>
  setPrefixStorageClass(bucket: string, prefix: string, storageClass: StorageClass | string): Promise<ClassChange>
  ensureExpiryRule(bucket: string, prefix: string, days: number): Promise<Ensured<ExpiryRule>>
  getExpiryRule(bucket: string, prefix: string): Promise<ExpiryRule | null>
  deleteExpiryRule(bucket: string, prefix: string): Promise<Deleted>
}

// ------------------------------------------------------------------------------ compute

export type InstanceState = 'pending' | 'running' | 'stopping' | 'stopped' | 'shutting_down' | 'terminated'
export interface InstanceSpec {
  name: string
  image: string
  size: string
  tags?: Tags
  user_data?: string | null
  idempotency_key: string
}
export interface Instance {
  id: string
  name: string
  image: string
  size: string
  state: InstanceState
  public_ip: string | null
  private_ip: string | null
  tags: Tags
}
export interface ComputeCapabilities {
  native_idempotency: boolean
  tags: boolean
  user_data: boolean
  /** `stopInstance` and `startInstance` work (otherwise both reject with `UnsupportedError`). */
  stop_start: boolean
}
export declare class Compute {
  private constructor()
  info(): ProviderInfo
  capabilities(): ComputeCapabilities
  launchInstance(spec: InstanceSpec): Promise<Ensured<Instance>>
  getInstance(id: string): Promise<Instance | null>
  findInstances(tags: Tags): Promise<Instance[]>
  waitForState(id: string, state: InstanceState, timeoutMs: number): Promise<Instance>
  terminateInstance(id: string): Promise<Deleted>
  /** Asks for the instance to stop; resolves to it as read after the request (`stopping`, or
   * `stopped` when it was). Follow with `waitForState(id, 'stopped', ...)`. */
  stopInstance(id: string): Promise<Instance>
  /** Asks for a stopped instance to start; resolves to it (`pending`, or `running` when it
   * was). Follow with `waitForState(id, 'running', ...)`. */
  startInstance(id: string): Promise<Instance>
}

// ------------------------------------------------------------------------------ ci

export interface Job {
  path: string
  url: string | null
}
export interface BuildRef {
  job: string
  number: number
}
export type BuildResult = 'SUCCESS' | 'UNSTABLE' | 'FAILURE' | 'NOT_BUILT' | 'ABORTED'
export interface CiCapabilities {
  folders: boolean
  parameters: boolean
  downstream: boolean
}
/** What `addDownstream` / `removeDownstream` found and did. */
export interface Linked {
  was_listed: boolean
  changed: boolean
}
export declare class Ci {
  private constructor()
  info(): ProviderInfo
  capabilities(): CiCapabilities
  ensureFolder(path: string): Promise<Ensured<string>>
  ensureJob(path: string, configXml: string): Promise<Ensured<Job>>
  getJobConfig(path: string): Promise<string | null>
  downstreamJobs(path: string): Promise<string[] | null>
  addDownstream(path: string, downstream: string): Promise<Linked | null>
  removeDownstream(path: string, downstream: string): Promise<Linked | null>
  deleteJob(path: string): Promise<Deleted>
  triggerBuild(path: string, parameters?: Record<string, string>): Promise<BuildRef>
  waitForBuild(build: BuildRef, timeoutMs: number): Promise<BuildResult>
}

// ------------------------------------------------------------------------------ secrets

export interface SecretMeta {
  name: string
  version: string
  tags: Tags
  deleted: boolean
}
export interface SecretsCapabilities {
  soft_delete: boolean
  custom_recovery_window: boolean
  tags: boolean
}
export declare class Secrets {
  private constructor()
  info(): ProviderInfo
  capabilities(): SecretsCapabilities
  putSecret(name: string, value: SecretInput, tags?: Tags): Promise<Ensured<SecretMeta>>
  getSecret(name: string): Promise<{ value: Secret; version: string }>
  describeSecret(name: string): Promise<SecretMeta | null>
  listSecrets(prefix: string, page?: PageRequest): Promise<Page<SecretMeta>>
  deleteSecret(name: string, recoveryDays: number): Promise<Deleted>
  recoverSecret(name: string): Promise<SecretMeta>
  /** Irreversible: `confirm` must be the secret's name. */
  purgeSecret(name: string, confirm: string): Promise<Deleted>
}

// ------------------------------------------------------------------------------ database

export interface ServerSpec {
  name: string
  engine: string
  version: string
  size: string
  storage_gb: number
  admin_user: string
  admin_password: SecretInput
  deletion_protection?: boolean
  tags?: Tags
  /** When the server does not exist, restore it from this snapshot instead of creating it empty. */
  restore_from_snapshot?: string | null
}
export interface Server {
  name: string
  engine: string
  status: string
  endpoint: { host: string; port: number } | null
  deletion_protection: boolean
  tags: Tags
}
export interface DeleteServerOptions {
  final_snapshot?: string | null
  skip_final_snapshot?: boolean
  /** Must be the server's name. */
  override_protection?: string | null
}
export interface RoleSpec {
  name: string
  password: SecretInput
}
export interface DatabaseSpec {
  name: string
  owner: string
}
export interface SeedSpec {
  database: string
  id: string
  sql: string
}
export interface AppliedSeed {
  database: string
  id: string
  checksum: string
}
export interface DatabaseCapabilities {
  servers: boolean
  roles_and_databases: boolean
  dump_restore: boolean
  snapshots: boolean
}
export declare class Database {
  private constructor()
  info(): ProviderInfo
  capabilities(): DatabaseCapabilities
  ensureServer(spec: ServerSpec): Promise<Ensured<Server>>
  getServer(name: string): Promise<Server | null>
  waitForServer(name: string, timeoutMs: number): Promise<Server>
  deleteServer(name: string, options?: DeleteServerOptions): Promise<Deleted>
  ensureRole(spec: RoleSpec): Promise<Ensured<string>>
  ensureDatabase(spec: DatabaseSpec): Promise<Ensured<string>>
  applySeed(spec: SeedSpec): Promise<Ensured<AppliedSeed>>
  databaseExists(name: string): Promise<boolean>
  roleExists(name: string): Promise<boolean>
  /** Irreversible: `confirm` must be the database's name. */
  dropDatabase(name: string, confirm: string): Promise<Deleted>
  /** `confirm` must be the role's name. */
  dropRole(name: string, confirm: string): Promise<Deleted>
  /** Dumps the database into `bucket`/`key` of `storage`, streamed, never through a file. */
  dumpToStorage(name: string, storage: Storage, bucket: string, key: string): Promise<DumpRecord>
  /**
   * Restores `spec.name` (owned by `spec.owner`) from the dump at `bucket`/`key`, streamed;
   * `expected` is checked before the restore can commit. A live database is refused
   * (`Conflict`): a restore never overwrites one.
   */
  restoreFromStorage(
    spec: DatabaseSpec,
    storage: Storage,
    bucket: string,
    key: string,
    expected?: { size?: number; sha256?: string },
  ): Promise<RestoredDatabase>
}
/** What `Database.dumpToStorage` stored. */
export interface DumpRecord {
  database: string
  bucket: string
  key: string
  size: number
  sha256: string
  etag: string
}
/** What `Database.restoreFromStorage` did. */
export interface RestoredDatabase {
  database: string
  created: boolean
  bytes: number
}

// ------------------------------------------------------------------------------ repo

export interface Branch {
  name: string
  head: string
}
export interface CommitInput {
  branch: string
  files: Record<string, Buffer | string>
  message: string
  author: { name: string; email: string }
}
export interface RepoCapabilities {
  delete_branch: boolean
}
export declare class Repo {
  private constructor()
  info(): ProviderInfo
  capabilities(): RepoCapabilities
  ensureBranch(name: string, base: string): Promise<Ensured<Branch>>
  getBranch(name: string): Promise<Branch | null>
  readFile(branch: string, path: string): Promise<Buffer | null>
  writeFiles(spec: CommitInput): Promise<Ensured<Branch>>
  deleteBranch(name: string): Promise<Deleted>
}

// ------------------------------------------------------------------------------ mail

export type VerificationStatus = 'not_started' | 'pending' | 'success' | 'failed' | 'temporary_failure'
export interface MailIdentity {
  name: string
  kind: 'domain' | 'email_address'
  status: VerificationStatus
  dns_records: RecordSpec[]
  tags: Tags
}
export interface MailCapabilities {
  domains: boolean
  addresses: boolean
}
export declare class Mail {
  private constructor()
  info(): ProviderInfo
  capabilities(): MailCapabilities
  ensureIdentity(name: string, tags?: Tags): Promise<Ensured<MailIdentity>>
  getIdentity(name: string): Promise<MailIdentity | null>
  deleteIdentity(name: string): Promise<Deleted>
}

// ------------------------------------------------------------------------------ memory world

/** kind (`dns.record`, `storage.object`, ...) -> id -> detail. */
export type Inventory = Record<string, Record<string, unknown>>
export type CallOutcome =
  | { outcome: 'ok'; changed: boolean }
  | { outcome: 'failed'; kind: { kind: ErrorKind } }
  | { outcome: 'injected'; kind: { kind: ErrorKind } }
  | { outcome: 'injected_after_effect'; kind: { kind: ErrorKind }; changed: boolean }
export interface CallRecord {
  operation: string
  call: number
  account: string
  resource: string
  outcome: CallOutcome
}
/** What exists before provisioning (the `memory-fixtures.yaml` document). */
export interface MemoryFixtures {
  dns?: { zones?: Array<{ name: string; records?: Array<Partial<RecordSpec> & { name: string; type: RecordType; content: string }> }> }
  storage?: {
    buckets?: Array<Partial<BucketSpec> & { name: string; objects?: Record<string, string | { base64: string; content_type?: string }> }>
    foreign_buckets?: string[]
  }
  compute?: { instances?: Array<{ name: string; image: string; size: string; tags?: Tags; idempotency_key?: string }> }
  ci?: { folders?: string[]; jobs?: Record<string, string> }
  secrets?: Record<string, string>
  database?: JsonObject
  repo?: { branches?: Record<string, Record<string, string>> }
  mail?: JsonObject
}
export declare class Faults {
  private constructor()
  readonly seed: number
  errorRate(operation: string, rate: number, kind: ErrorKind): void
  errorOnCall(operation: string, n: number, kind: ErrorKind): void
  errorAfterEffect(operation: string, n: number, kind: ErrorKind): void
  errorRateAfterEffect(operation: string, rate: number, kind: ErrorKind): void
  latency(operation: string, ms: number): void
  latencyBetween(operation: string, minMs: number, maxMs: number): void
  rateLimit(account: string, requests: number, perMs: number): void
  clear(): void
  resetCounters(): void
  calls(operation: string): number
  mutations(operation: string): number
  callLog(): CallRecord[]
  injected(): CallRecord[]
}
export declare class MemoryCloud {
  private constructor()
  readonly faults: Faults
  inventory(): Inventory
  retired(): Inventory
  addZone(name: string): Zone
  addForeignBucket(name: string): void
  verifyMailIdentity(name: string): boolean
  applyFixtures(fixtures: MemoryFixtures): Promise<void>
  save(path: string): void
}

// ------------------------------------------------------------------------------ providers

/** One configured provider: its kind and the kind's settings (see docs/providers/<kind>.md). */
export interface ProviderEntry {
  kind: string
  [setting: string]: unknown
}
/** The CLI's provider configuration file, as an object. */
export interface ProviderConfig {
  fallback?: 'none' | 'memory'
  memory?: { seed?: number; persist?: string; fixtures?: string | MemoryFixtures }
  providers?: Partial<Record<Capability, Record<string, ProviderEntry>>>
  /** How every call of these providers is retried and bounded (default: 5 attempts, 100 ms to 5 s backoff). */
  calls?: CallSettings
}
/** The provider file's `calls` section. */
export interface CallSettings {
  retry?: { max_attempts?: number; initial_backoff_ms?: number; max_backoff_ms?: number }
  /** A deadline per attempt, in milliseconds. */
  timeout_ms?: number
}
export declare class Providers {
  private constructor()
  /** From a configuration object or file path; without one, memory providers everywhere. */
  static connect(config?: ProviderConfig | string | null): Promise<Providers>
  /** Memory providers for every capability. */
  static memory(options?: { seed?: number; fixtures?: string | MemoryFixtures; calls?: CallSettings }): Promise<Providers>
  static kinds(): string[]
  /** The memory world, when any capability uses memory providers. */
  readonly cloud: MemoryCloud | null
  summary(): Array<{ capability: Capability; name: string; kind: string }>
  save(): void
  dns(name?: string): Dns
  storage(name?: string): Storage
  compute(name?: string): Compute
  ci(name?: string): Ci
  secrets(name?: string): Secrets
  database(name?: string): Database
  repo(name?: string): Repo
  mail(name?: string): Mail
}

// ------------------------------------------------------------------------------ blueprints

export interface ResourceDocument {
  type: string
  provider?: string
  params?: JsonObject
  depends_on?: string[]
  protect?: boolean
  retry?: JsonObject
  timeout_secs?: number
}
export interface BlueprintDocument {
  name: string
  variables?: Record<string, { default?: unknown; required?: boolean; secret?: boolean; description?: string }>
  resources: Record<string, ResourceDocument>
}
export declare class Blueprint {
  private constructor()
  /** A blueprint file, or a directory with `blueprint.yaml` and `templates/`. */
  static load(path: string): Blueprint
  static parse(text: string, format?: 'yaml' | 'toml' | 'json'): Blueprint
  static fromYaml(text: string): Blueprint
  static fromJson(text: string): Blueprint
  static fromObject(document: BlueprintDocument, templates?: string): Blueprint
  readonly name: string
  readonly resources: string[]
  toObject(): BlueprintDocument
  /** Checks against the built-in resource types. */
  validate(): void
}
/** A Blueprint, a path to load, or a blueprint document. */
export type BlueprintInput = Blueprint | string | BlueprintDocument

// ------------------------------------------------------------------------------ engine values

export type Action = 'create' | 'update' | 'replace' | 'no_op' | 'delete' | 'adopt' | 'read'
export type StepOutcome = 'created' | 'updated' | 'unchanged' | 'deleted' | 'already_gone' | 'adopted' | 'absent'
export type Operation =
  | 'apply'
  | 'destroy'
  | 'refresh'
  | 'suspend'
  | 'resume'
  | 'archive'
  | 'restore'
  | 'retire'
/** A lifecycle transition (docs/lifecycle.md). */
export type Transition = 'suspend' | 'resume' | 'archive' | 'restore' | 'retire'
/** A tenant's lifecycle phase as the state store keeps it. */
export interface TenantPhase {
  tenant: string
  phase: 'launched' | 'suspended' | 'archived' | 'retired'
  /** The transition under way (written before its first step, cleared when it succeeded). */
  transition?: Transition
  run_id: string
  updated_at_ms: number
}
export interface TransitionOptions {
  signal?: AbortSignal
  /** As in `apply`: `false` resolves a failed run's report instead of rejecting. */
  check?: boolean
  /** Protected resources the transition may delete besides those the blueprint declares absent. */
  allow?: string[]
  lockWaitMs?: number
}
export interface Summary {
  created: number
  updated: number
  unchanged: number
  deleted: number
  failed: number
  skipped: number
  rolled_back: number
  duration_ms: number
  /** Provider requests the run sent. */
  requests: number
  /** The same per provider (`aws-s3`, `postgres`, `memory-dns`, ...). */
  requests_by_service: Record<string, number>
}
export interface EventError {
  kind: ErrorKind
  message: string
  retryable: boolean
}
export interface FieldDiff {
  field: string
  before: unknown
  after: unknown
}
export type Drift = { status: 'in_sync' } | { status: 'changed'; diff: FieldDiff[] } | { status: 'missing' }
export interface PlannedResource {
  name: string
  resource_type: string
  provider: string
  action: Action
  diff: FieldDiff[]
  replace_because?: string[]
  params: unknown
  depends_on: string[]
  protect: boolean
  blocked?: string
  drift?: Drift
  /** The outputs a refreshing plan read. */
  outputs?: unknown
}
export interface PlanCounts {
  create: number
  update: number
  replace: number
  no_op: number
  delete: number
}
export interface Plan {
  tenant: string
  blueprint: string
  resources: PlannedResource[]
  counts: PlanCounts
  has_changes: boolean
  /** The plan as the CLI prints it. */
  text: string
}
export type StepStatus =
  | { status: 'succeeded'; outcome: StepOutcome }
  | { status: 'failed'; error: EventError }
  | { status: 'skipped'; reason: string }
  | { status: 'rolled_back' }
export interface StepReport {
  resource: string
  action: Action
  status: StepStatus
  outputs: unknown
}
export interface RunReport {
  run_id: string
  tenant: string
  operation: Operation
  summary: Summary
  steps: StepReport[]
  kept_protected: string[]
  /** Resources this run may have created without being able to prove it: kept, recorded. */
  in_doubt?: string[]
  /** Resources this run created whose rollback delete failed: they stay, recorded in state. */
  rollback_failed?: string[]
  plan: Omit<Plan, 'counts' | 'has_changes' | 'text'> | null
  success: boolean
  /** Each failed step's error (with `step` set). */
  errors: ProvisioError[]
}
export interface RefreshReport {
  run_id: string
  tenant: string
  resources: Array<{ resource: string; drift: Drift }>
  has_drift: boolean
}

interface EventBase {
  run_id: string
  tenant: string
  at_ms: number
}
export type RunEvent = EventBase &
  (
    | { type: 'run_started'; operation: Operation; resources: string[] }
    | { type: 'step_started'; resource: string; action: Action }
    | { type: 'step_retrying'; resource: string; attempt: number; delay_ms: number; reason: string }
    | {
        type: 'step_succeeded'
        resource: string
        action: Action
        outcome: StepOutcome
        outputs: Record<string, unknown>
        duration_ms: number
        /** Provider requests the step sent. */
        requests: number
      }
    | { type: 'step_failed'; resource: string; error: EventError }
    | { type: 'step_skipped'; resource: string; reason: string }
    | { type: 'step_rolled_back'; resource: string }
    | { type: 'run_finished'; summary: Summary }
  )

export type TenantStatus = 'succeeded' | 'failed' | 'already_succeeded' | 'not_started'
export interface TenantResult {
  tenant: string
  status: TenantStatus
  canary: boolean
  run_id: string | null
  summary: Summary | null
  error: EventError | null
}
export interface FleetCounts {
  tenants: number
  succeeded: number
  failed: number
  already_succeeded: number
  not_started: number
  resources: Summary
}
export type HaltReason =
  | { reason: 'canary_failed'; tenants: string[] }
  | { reason: 'threshold_reached'; failed: number; limit: number }
export type FleetStatus = { status: 'completed' } | ({ status: 'halted' } & HaltReason) | { status: 'cancelled' }
export interface FleetReport {
  fleet_id: string
  operation: Operation
  status: FleetStatus
  tenants: TenantResult[]
  counts: FleetCounts
  duration_ms: number
  success: boolean
}
interface FleetEventBase {
  fleet_id: string
  at_ms: number
}
export type FleetEvent = FleetEventBase &
  (
    | {
        type: 'fleet_started'
        operation: Operation
        tenants: number
        already_succeeded: number
        canary: number
        failure_limit: number
      }
    | { type: 'tenant_started'; tenant: string; canary: boolean }
    | { type: 'tenant_finished'; result: TenantResult }
    | { type: 'canary_passed'; tenants: string[] }
    | ({ type: 'halted' } & HaltReason)
    | { type: 'cancelled' }
    | { type: 'fleet_finished'; status: FleetStatus; counts: FleetCounts }
  )

// ------------------------------------------------------------------------------ engine

/** The tenant a run provisions: a name, or its variables and secret variables too. */
export type Tenant =
  | string
  | {
      name: string
      vars?: Record<string, unknown>
      /** Secret variables (never interpolated into parameters; resource types read them). */
      secrets?: Record<string, SecretInput>
    }

export interface StepContext {
  tenant: { name: string; vars: Record<string, unknown> }
  blueprint: string
  resource: string
  provider: string
  /** The ownership tags to put on what the step creates. */
  ownership: Tags
  /** Stable across retries and resumed runs. */
  idempotency_token: string
}
/** A custom step type implemented in JavaScript. Throw a ProvisioError of a retryable kind to be retried. */
export interface StepDefinition<P = any, O extends JsonObject = JsonObject> {
  /** The type name blueprints use, namespaced: `custom.notify`. */
  type: string
  /** The output keys `apply` returns. */
  outputs?: string[]
  /** Parameter fields whose change means replace. */
  replaceFields?: string[]
  /** Creates the resource or brings it to `params` (idempotent). */
  apply(ctx: StepContext, params: P, prior: O | null): Promise<{ outputs?: O; outcome?: Outcome } | void>
  /** The resource's outputs as it exists now, or null when gone (default: what state recorded). */
  read?(ctx: StepContext, params: P, prior: O | null): Promise<O | null>
  /** Deletes the resource (default: nothing to delete). */
  delete?(ctx: StepContext, params: P, outputs: O | null): Promise<Deleted | void>
}

export interface EngineOptions {
  /** `"memory"` (default), a SQLite file path, or a `postgres://` URL. */
  state?: string
  /** Steps of one run in flight at once (default 16). */
  concurrency?: number
  /** Default step timeout (default 600 000; 0: none). */
  stepTimeoutMs?: number
  lockOwner?: string
  lockTtlMs?: number
  /** Receives every run event as the runs proceed. */
  onEvent?: (event: RunEvent) => void
  /** Custom step types. */
  steps?: StepDefinition[]
}
export interface PlanOptions {
  /** Read every resource first (drift shows in the plan). */
  refresh?: boolean
}
export interface ApplyOptions {
  signal?: AbortSignal
  /**
   * A failed run rejects with its first error, the run report as `error.report` (default
   * `true`); `false` resolves with the report (`success: false`, `errors`) instead.
   */
  check?: boolean
  /** Keep what a failed run created instead of rolling it back. */
  keepPartial?: boolean
  /** Protected resources that may be deleted or replaced. */
  allow?: string[]
  refresh?: boolean
  lockWaitMs?: number
}
export interface DestroyOptions {
  signal?: AbortSignal
  /** As in `apply`: `false` resolves a failed run's report instead of rejecting. */
  check?: boolean
  allow?: string[]
  lockWaitMs?: number
}
export interface RefreshOptions {
  signal?: AbortSignal
  /** Record what was read in state. */
  write?: boolean
  lockWaitMs?: number
}
export interface FleetOptions {
  /** Names the rollout: running again with the same id resumes it (skips tenants that succeeded). */
  fleetId: string
  signal?: AbortSignal
  onEvent?: (event: FleetEvent) => void
  /** Destroy every tenant instead of applying. */
  destroy?: boolean
  concurrency?: number
  canary?: number
  /** Halt after this many failed tenants (default 1), or never. */
  maxFailures?: number | 'never'
  /** Halt after this fraction of the tenants failed (instead of a count). */
  maxFailureRatio?: number
  keepPartial?: boolean
  allow?: string[]
  cursorIntervalMs?: number
}

export declare class Engine {
  constructor(providers: Providers, options?: EngineOptions)
  plan(blueprint: BlueprintInput, tenant: Tenant, options?: PlanOptions): Promise<Plan>
  /**
   * Resolves to the run report when the run succeeded; a failed run rejects with its first
   * error (a ProvisioError, the report as `error.report`) unless `options.check` is `false`.
   */
  apply(blueprint: BlueprintInput, tenant: Tenant, options?: ApplyOptions): Promise<RunReport>
  /** Resolves or rejects like `apply`. */
  destroy(blueprint: BlueprintInput, tenant: Tenant, options?: DestroyOptions): Promise<RunReport>
  refresh(blueprint: BlueprintInput, tenant: Tenant, options?: RefreshOptions): Promise<RefreshReport>
  outputs(tenant: Tenant): Promise<Record<string, Record<string, unknown>>>
  /**
   * Moves the tenant through a lifecycle transition: its resources become what the blueprint
   * declares for the target phase. Resolves or rejects like `apply`; a failed transition is
   * not rolled back, and running it again finishes it. An illegal transition rejects with a
   * `ConflictError`, an unknown tenant with a `NotFoundError`, before any side effect.
   */
  transition(
    blueprint: BlueprintInput,
    tenant: Tenant,
    transition: Transition,
    options?: TransitionOptions,
  ): Promise<RunReport>
  /** What `transition` would do; changes nothing. */
  planTransition(
    blueprint: BlueprintInput,
    tenant: Tenant,
    transition: Transition,
    options?: { allow?: string[] },
  ): Promise<Plan>
  /** The tenant's phase, or `null` for a tenant the state store does not know. */
  phase(tenant: Tenant): Promise<TenantPhase | null>
  fleet(blueprint: BlueprintInput, tenants: Tenant[], options: FleetOptions): Promise<FleetReport>
}
