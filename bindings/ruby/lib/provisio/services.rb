# frozen_string_literal: true

module Provisio
  # Every capability object's methods call the extension's private `__call(operation, args)`:
  # Ruby checks the argument names (an unknown or missing keyword is an ArgumentError), the
  # extension their types (a TypeError naming the argument). Results are frozen Hashes with
  # Symbol keys; object and file bodies are binary Strings.

  # A DNS provider: zones and records. `zone` is a zone name or a Hash from #find_zone.
  class Dns
    # Finds a zone by name: `{id:, name:}` or nil.
    def find_zone(name) = __call("find_zone", { name: name })
    # One page of a zone's records: `{items: [...], next: token or nil}`.
    def list_records(zone, token: nil, limit: nil) = __call("list_records", { zone: zone, token: token, limit: limit })
    # The record of a name and type, or nil.
    def get_record(zone, name, type) = __call("get_record", { zone: zone, name: name, type: type })

    # Creates or updates the record: `{value: record, outcome: "created"|"updated"|"unchanged"}`.
    def ensure_record(zone, name, type, content, ttl: 300, proxied: nil, priority: nil)
      __call("ensure_record", { zone: zone, name: name, type: type, content: content, ttl: ttl,
                                proxied: proxied, priority: priority })
    end

    # Deletes the record of a name and type: "deleted" or "already_gone".
    def delete_record(zone, name, type) = __call("delete_record", { zone: zone, name: name, type: type })
  end

  # Object storage: buckets and objects (bodies are binary Strings).
  class Storage
    # Creates the bucket or brings its settings to these: `{value: bucket, outcome:}`.
    def ensure_bucket(name, versioning: false, archive_after_days: nil, block_public_access: true, tags: nil)
      __call("ensure_bucket", { name: name, versioning: versioning, archive_after_days: archive_after_days,
                                block_public_access: block_public_access, tags: tags })
    end

    # A bucket's settings, or nil.
    def get_bucket(name) = __call("get_bucket", { name: name })
    # Deletes an empty bucket: "deleted" or "already_gone" (ConflictError when not empty).
    def delete_bucket(name) = __call("delete_bucket", { name: name })

    # Stores an object (a String, stored byte for byte); returns its metadata.
    def put_object(bucket, key, body, content_type: nil)
      __call("put_object", { bucket: bucket, key: key, body: body, content_type: content_type })
    end

    # Reads an object: `[body (binary String), metadata]`; NotFoundError when missing.
    def get_object(bucket, key) = __call("get_object", { bucket: bucket, key: key })
    # An object's metadata, or nil.
    def head_object(bucket, key) = __call("head_object", { bucket: bucket, key: key })

    # One page of the objects under `prefix`: `{items: [...], next:}`.
    def list_objects(bucket, prefix = "", token: nil, limit: nil)
      __call("list_objects", { bucket: bucket, prefix: prefix, token: token, limit: limit })
    end

    # Deletes an object: "deleted" or "already_gone".
    def delete_object(bucket, key) = __call("delete_object", { bucket: bucket, key: key })

    # Copies every object under a prefix (skipping identical ones); returns how many were written.
    def copy_prefix(src_bucket, src_prefix, dst_bucket, dst_prefix)
      __call("copy_prefix", { src_bucket: src_bucket, src_prefix: src_prefix, dst_bucket: dst_bucket,
                              dst_prefix: dst_prefix })
    end

    # Deletes every object under a prefix; returns how many were deleted.
    def delete_prefix(bucket, prefix) = __call("delete_prefix", { bucket: bucket, prefix: prefix })

    # Moves an object to a storage class ("standard", "infrequent_access", "archive",
    # "deep_archive", or a provider's spelling such as "GLACIER"); returns its metadata. Out of
    # an archive class it restores first: Provisio::TransientError while the restore runs.
    def set_storage_class(bucket, key, storage_class)
      __call("set_storage_class", { bucket: bucket, key: key, storage_class: storage_class.to_s })
    end

    # Moves every object under a prefix to a storage class: `{changed:, unchanged:, pending:}`
    # (pending: still being restored; call again).
    def set_prefix_storage_class(bucket, prefix, storage_class)
      __call("set_prefix_storage_class", { bucket: bucket, prefix: prefix, storage_class: storage_class.to_s })
    end

    # Ensures a rule deleting the objects under a prefix `days` days after they were written:
    # `{value: {id:, prefix:, days:}, outcome:}`.
    def ensure_expiry_rule(bucket, prefix, days)
      __call("ensure_expiry_rule", { bucket: bucket, prefix: prefix, days: days })
    end

    # The expiry rule of a prefix, or nil.
    def get_expiry_rule(bucket, prefix) = __call("get_expiry_rule", { bucket: bucket, prefix: prefix })

    # Removes the expiry rule of a prefix (never an object): "deleted" or "already_gone".
    def delete_expiry_rule(bucket, prefix) = __call("delete_expiry_rule", { bucket: bucket, prefix: prefix })
  end

  # A compute provider: instances.
  class Compute
    # Launches an instance unless one with the same name and tags lives: `{value: instance, outcome:}`.
    def launch_instance(name, image, size, idempotency_key, tags: nil, user_data: nil)
      __call("launch_instance", { name: name, image: image, size: size, idempotency_key: idempotency_key,
                                  tags: tags, user_data: user_data })
    end

    # An instance by id, or nil.
    def get_instance(id) = __call("get_instance", { id: id })
    # The live instances carrying every one of `tags`.
    def find_instances(tags) = __call("find_instances", { tags: tags })
    # Waits until the instance is in `state` ("running", "stopped", ...); Provisio::TimeoutError after `timeout` seconds.
    def wait_for_state(id, state, timeout: 300.0) = __call("wait_for_state", { id: id, state: state.to_s, timeout: timeout })
    # Terminates an instance: "deleted" or "already_gone".
    def terminate_instance(id) = __call("terminate_instance", { id: id })
    # Asks for the instance to stop; returns it as read after the request ("stopping", or "stopped"
    # when it was). Follow with wait_for_state(id, "stopped"). Provisio::UnsupportedError where
    # capabilities["stop_start"] is false.
    def stop_instance(id) = __call("stop_instance", { id: id })
    # Asks for a stopped instance to start; returns it ("pending", or "running" when it was).
    def start_instance(id) = __call("start_instance", { id: id })
  end

  # A CI server: folders, jobs, downstream jobs, builds.
  class Ci
    # Creates the folder and its parents unless they exist: `{value: path, outcome:}`.
    def ensure_folder(path) = __call("ensure_folder", { path: path })
    # Creates the job from its config XML or replaces a differing configuration.
    def ensure_job(path, config_xml) = __call("ensure_job", { path: path, config_xml: config_xml })
    # A job's config XML, or nil.
    def get_job_config(path) = __call("get_job_config", { path: path })
    # The jobs `path` triggers when it finishes, or nil when the job does not exist.
    def downstream_jobs(path) = __call("downstream_jobs", { path: path })
    # Adds `downstream` to the jobs `path` triggers (idempotent): `{was_listed:, changed:}` or nil.
    def add_downstream(path, downstream) = __call("add_downstream", { path: path, downstream: downstream })
    # Removes `downstream` from the jobs `path` triggers (idempotent).
    def remove_downstream(path, downstream) = __call("remove_downstream", { path: path, downstream: downstream })
    # Deletes a job or folder: "deleted" or "already_gone".
    def delete_job(path) = __call("delete_job", { path: path })
    # Queues a build and waits for its number: `{job:, number:}`.
    def trigger_build(path, parameters = nil) = __call("trigger_build", { path: path, parameters: parameters })
    # Waits for a build (`{job:, number:}`) to finish: "SUCCESS", "FAILURE", ...
    def wait_for_build(build, timeout: 600.0) = __call("wait_for_build", { build: build, timeout: timeout })
  end

  # A secret store. Values go in as String or Provisio::Secret and come out as Provisio::Secret.
  class Secrets
    # Stores `value` as the secret's current version: `{value: metadata, outcome:}` (never the value).
    def put_secret(name, value, tags: nil) = __call("put_secret", { name: name, value: value, tags: tags })
    # The current version: `{value: Provisio::Secret, version:}`; NotFoundError when missing.
    def get_secret(name) = __call("get_secret", { name: name })
    # A secret's metadata (also when soft-deleted), or nil.
    def describe_secret(name) = __call("describe_secret", { name: name })
    # One page of live secrets whose name starts with `prefix`.
    def list_secrets(prefix = "", token: nil, limit: nil) = __call("list_secrets", { prefix: prefix, token: token, limit: limit })
    # Soft-deletes a secret, recoverable for `recovery_days` (7 to 30).
    def delete_secret(name, recovery_days: 7) = __call("delete_secret", { name: name, recovery_days: recovery_days })
    # Restores a soft-deleted secret; returns its metadata.
    def recover_secret(name) = __call("recover_secret", { name: name })
    # Irreversibly destroys a secret; `confirm` must repeat its name (else ProtectedError).
    def purge_secret(name, confirm:) = __call("purge_secret", { name: name, confirm: confirm })
  end

  # A database provider: managed servers, roles, databases, seeds.
  class Database
    # Creates a managed server or brings its settings to these.
    def ensure_server(name, engine:, version:, size:, storage_gb:, admin_user:, admin_password:,
                      deletion_protection: true, tags: nil)
      __call("ensure_server", { name: name, engine: engine, version: version, size: size, storage_gb: storage_gb,
                                admin_user: admin_user, admin_password: admin_password,
                                deletion_protection: deletion_protection, tags: tags })
    end

    # A managed server, or nil.
    def get_server(name) = __call("get_server", { name: name })
    # Waits until the server is available.
    def wait_for_server(name, timeout: 1800.0) = __call("wait_for_server", { name: name, timeout: timeout })

    # Deletes a managed server (a final snapshot unless `skip_final_snapshot`; a protected
    # server only when `override_protection` names it).
    def delete_server(name, final_snapshot: nil, skip_final_snapshot: false, override_protection: nil)
      __call("delete_server", { name: name, final_snapshot: final_snapshot, skip_final_snapshot: skip_final_snapshot,
                                override_protection: override_protection })
    end

    # Creates the role with a login password (String or Provisio::Secret), or sets the password.
    def ensure_role(name, password) = __call("ensure_role", { name: name, password: password })
    # Creates the database owned by `owner`, or changes its owner.
    def ensure_database(name, owner) = __call("ensure_database", { name: name, owner: owner })
    # Applies seed SQL once per `id` (a different SQL under the same id is a ConflictError).
    def apply_seed(database, id, sql) = __call("apply_seed", { database: database, id: id, sql: sql })
    # Whether a database exists.
    def database_exists?(name) = __call("database_exists", { name: name })
    # Whether a role exists.
    def role_exists?(name) = __call("role_exists", { name: name })
    # Drops a database; `confirm` must repeat its name.
    def drop_database(name, confirm:) = __call("drop_database", { name: name, confirm: confirm })
    # Drops a role; `confirm` must repeat its name.
    def drop_role(name, confirm:) = __call("drop_role", { name: name, confirm: confirm })
    # Dumps the database into `bucket`/`key` of `storage` (a Provisio::Storage), streamed,
    # never through a file: `{database:, bucket:, key:, size:, sha256:, etag:}`.
    def dump_to_storage(name, storage:, bucket:, key:)
      __call("dump_to_storage", { name: name, storage: storage, bucket: bucket, key: key })
    end
    # Restores the database `name`, owned by `owner`, from the dump at `bucket`/`key` of
    # `storage`, streamed; `size` and `sha256`, when given, are checked before the restore can
    # commit. A database that exists and holds data is refused (Provisio::ConflictError): a
    # restore never overwrites a live database. `{database:, created:, bytes:}`.
    def restore_from_storage(name, owner:, storage:, bucket:, key:, size: nil, sha256: nil)
      __call("restore_from_storage", { name: name, owner: owner, storage: storage, bucket: bucket,
                                       key: key, size: size, sha256: sha256 })
    end
  end

  # A git repository: branches and commits (file contents are binary Strings).
  class Repo
    # Creates branch `name` at the head of `base` unless it exists.
    def ensure_branch(name, base = "main") = __call("ensure_branch", { name: name, base: base })
    # A branch `{name:, head:}`, or nil.
    def get_branch(name) = __call("get_branch", { name: name })
    # A file at a branch's head as a binary String, or nil.
    def read_file(branch, path) = __call("read_file", { branch: branch, path: path })

    # Writes `files` (path => String) as one commit; `outcome: "unchanged"` when nothing differs.
    def write_files(branch, files, message:, author_name: "provisio", author_email: "provisio@localhost")
      __call("write_files", { branch: branch, files: files, message: message, author_name: author_name,
                              author_email: author_email })
    end

    # Deletes a branch: "deleted" or "already_gone".
    def delete_branch(name) = __call("delete_branch", { name: name })
  end

  # A mail-sending provider: identities.
  class Mail
    # Creates a sending identity (a domain, or an address with @) unless it exists.
    def ensure_identity(name, tags: nil) = __call("ensure_identity", { name: name, tags: tags })
    # An identity with its verification status, or nil.
    def get_identity(name) = __call("get_identity", { name: name })
    # Deletes an identity: "deleted" or "already_gone".
    def delete_identity(name) = __call("delete_identity", { name: name })
  end
end
