# frozen_string_literal: true

require_relative "test_helper"

class ProvidersTest < Minitest::Test
  include Provisio::Testing

  def test_kinds_and_summary
    assert_includes Provisio.kinds, "memory"
    providers = Provisio::Providers.new
    assert_equal %w[dns default memory], providers.summary.first
    assert providers.summary.frozen?
    assert_match(/dns.default=memory/, providers.inspect)
  end

  def test_providers_from_a_hash_and_from_a_file
    providers = Provisio::Providers.new({ fallback: "memory", memory: { seed: 3 } })
    assert_equal 3, providers.cloud.seed
    Dir.mktmpdir do |dir|
      path = File.join(dir, "providers.json")
      File.write(path, '{"fallback": "memory", "memory": {"seed": 11}}')
      assert_equal 11, Provisio::Providers.new(path).cloud.seed
    end
  end

  def test_one_provider_on_its_own
    dns = Provisio.dns(kind: "memory")
    assert_instance_of Provisio::Dns, dns
    assert_equal "memory", dns.info[:name]
    assert_instance_of Provisio::Mail, Provisio.mail
    assert_raises(Provisio::InvalidInputError) { Provisio.storage(kind: "no-such-kind") }
  end

  def test_dns
    dns = provisio_launch_providers.dns
    assert_equal "memory-dns", dns.info[:account] if dns.info[:account]
    zone = dns.find_zone("example.com")
    assert_equal "example.com", zone[:name]
    assert_nil dns.find_zone("nope.invalid")
    made = dns.ensure_record("example.com", "www.example.com", "A", "192.0.2.1", ttl: 60)
    assert_equal "created", made[:outcome]
    assert made.frozen? && made[:value].frozen?
    assert_equal "unchanged", dns.ensure_record(zone, "www.example.com", "A", "192.0.2.1", ttl: 60)[:outcome]
    assert_equal "updated", dns.ensure_record("example.com", "www.example.com", "A", "192.0.2.2", ttl: 60)[:outcome]
    assert_equal "192.0.2.2", dns.get_record("example.com", "www.example.com", "A")[:content]
    names = dns.list_records("example.com")[:items].map { |r| r[:name] }
    assert_includes names, "www.example.com"
    assert_equal "deleted", dns.delete_record("example.com", "www.example.com", "A")
    assert_equal "already_gone", dns.delete_record("example.com", "www.example.com", "A")
    assert_raises(Provisio::NotFoundError) { dns.list_records("missing.invalid") }
    assert_kind_of Hash, dns.capabilities
  end

  def test_storage_classes_and_expiry_rules
    storage = provisio_providers.storage
    storage.ensure_bucket("bucket-cold")
    %w[t/acme/a t/acme/b].each { |k| storage.put_object("bucket-cold", k, "x") }
    change = storage.set_prefix_storage_class("bucket-cold", "t/acme/", :archive)
    assert_equal({ changed: 2, unchanged: 0, pending: 0 }, change.to_h.transform_keys(&:to_sym))
    assert_equal "archive", storage.head_object("bucket-cold", "t/acme/a")[:storage_class]
    assert_raises(Provisio::ConflictError) { storage.get_object("bucket-cold", "t/acme/a") }
    assert_raises(Provisio::InvalidInputError) { storage.set_storage_class("bucket-cold", "t/acme/a", "frozen") }
    meta = nil
    100.times do
      meta = storage.set_storage_class("bucket-cold", "t/acme/a", "STANDARD")
      break
    rescue Provisio::TransientError => e
      assert e.retryable?
      sleep 0.02
    end
    assert_equal "standard", meta[:storage_class]
    made = storage.ensure_expiry_rule("bucket-cold", "t/acme/", 30)
    assert_equal "created", made[:outcome]
    assert_equal 30, storage.get_expiry_rule("bucket-cold", "t/acme/")[:days]
    assert_equal "deleted", storage.delete_expiry_rule("bucket-cold", "t/acme/")
    assert_nil storage.get_expiry_rule("bucket-cold", "t/acme/")
  end

  def test_storage_bodies_are_binary
    storage = provisio_providers.storage
    assert_equal "created", storage.ensure_bucket("bucket-one", versioning: true, tags: { team: "ops" })[:outcome]
    assert storage.get_bucket("bucket-one")[:versioning]
    body = "\x00\xFFbinary".b
    storage.put_object("bucket-one", "a/one.bin", body, content_type: "application/octet-stream")
    storage.put_object("bucket-one", "a/two.txt", "héllo")
    got, meta = storage.get_object("bucket-one", "a/one.bin")
    assert_equal body, got
    assert_equal Encoding::BINARY, got.encoding
    assert_equal body.bytesize, meta[:size] if meta.key?(:size)
    assert_equal "héllo".b, storage.get_object("bucket-one", "a/two.txt").first
    assert storage.head_object("bucket-one", "a/one.bin")
    assert_nil storage.head_object("bucket-one", "nope")
    assert_equal 2, storage.list_objects("bucket-one", "a/")[:items].size
    storage.ensure_bucket("bucket-two")
    assert_equal 2, storage.copy_prefix("bucket-one", "a/", "bucket-two", "c/")
    assert_equal 2, storage.delete_prefix("bucket-two", "c/")
    assert_equal "deleted", storage.delete_object("bucket-one", "a/two.txt")
    assert_raises(Provisio::ConflictError) { storage.delete_bucket("bucket-one") }
    assert_raises(Provisio::NotFoundError) { storage.get_object("bucket-one", "a/two.txt") }
  end

  def test_compute
    compute = provisio_providers.compute
    made = compute.launch_instance("web-1", "img-1", "small", "key-1", tags: { tenant: "acme" })
    id = made[:value][:id]
    assert_equal "created", made[:outcome]
    assert_equal "unchanged", compute.launch_instance("web-1", "img-1", "small", "key-1", tags: { tenant: "acme" })[:outcome]
    assert_equal "running", compute.wait_for_state(id, :running, timeout: 30)[:state]
    assert_equal [id], compute.find_instances({ tenant: "acme" }).map { |i| i[:id] }
    assert_equal id, compute.get_instance(id)[:id]
    assert_equal "stopping", compute.stop_instance(id)[:state]
    assert_equal "stopped", compute.wait_for_state(id, :stopped, timeout: 30)[:state]
    assert_equal "stopped", compute.stop_instance(id)[:state]
    assert_equal "pending", compute.start_instance(id)[:state]
    assert_equal "running", compute.wait_for_state(id, :running, timeout: 30)[:state]
    assert_raises(Provisio::NotFoundError) { compute.start_instance("i-0123456789abcdef0") }
    assert_equal "deleted", compute.terminate_instance(id)
    assert_raises(Provisio::ConflictError) { compute.stop_instance(id) }
  end

  def test_ci
    ci = provisio_providers.ci
    ci.ensure_folder("team")
    assert_equal "created", ci.ensure_job("team/build", "<project/>")[:outcome]
    ci.ensure_job("team/deploy", "<project/>")
    assert_equal "<project/>", ci.get_job_config("team/build")
    assert ci.add_downstream("team/build", "team/deploy")[:changed]
    assert_equal ["team/deploy"], ci.downstream_jobs("team/build")
    build = ci.trigger_build("team/build", { "BRANCH" => "main" })
    assert_equal "team/build", build[:job]
    assert_kind_of String, ci.wait_for_build(build, timeout: 30)
    refute ci.remove_downstream("team/build", "team/deploy")[:was_listed] == false
    assert_equal "deleted", ci.delete_job("team/build")
    assert_nil ci.get_job_config("team/build")
  end

  def test_secrets_come_back_as_secret
    secrets = provisio_providers.secrets
    made = secrets.put_secret("db-password", "p4ss-w0rd-1", tags: { tenant: "acme" })
    refute_includes made.inspect, "p4ss-w0rd-1"
    got = secrets.get_secret("db-password")
    assert_kind_of Provisio::Secret, got[:value]
    assert_equal "p4ss-w0rd-1", got[:value].reveal
    refute_includes got.inspect, "p4ss-w0rd-1"
    secrets.put_secret("db-password-2", Provisio::Secret.new("other"))
    assert_equal 2, secrets.list_secrets("db-")[:items].size
    assert secrets.describe_secret("db-password")
    secrets.delete_secret("db-password", recovery_days: 7)
    assert_raises(Provisio::NotFoundError) { secrets.get_secret("db-password") }
    secrets.recover_secret("db-password")
    assert_equal "p4ss-w0rd-1", secrets.get_secret("db-password")[:value].reveal
    assert_raises(Provisio::ProtectedError) { secrets.purge_secret("db-password", confirm: "wrong") }
    secrets.purge_secret("db-password", confirm: "db-password")
    assert_nil secrets.describe_secret("db-password")
  end

  def test_database
    db = provisio_providers.database
    db.ensure_server("main", engine: "postgres", version: "16", size: "small", storage_gb: 20,
                             admin_user: "admin", admin_password: Provisio::Secret.new("adm1n-pw"))
    assert_equal "available", db.wait_for_server("main", timeout: 60)[:status]
    assert_equal "main", db.get_server("main")[:name]
    db.ensure_role("app", "r0le-pw")
    db.ensure_database("appdb", "app")
    assert db.database_exists?("appdb")
    assert db.role_exists?("app")
    db.apply_seed("appdb", "seed-1", "create table t (id int)")
    assert_raises(Provisio::ConflictError) { db.apply_seed("appdb", "seed-1", "drop table t") }
    db.drop_database("appdb", confirm: "appdb")
    db.drop_role("app", confirm: "app")
    refute db.database_exists?("appdb")
    assert_raises(Provisio::ProtectedError) { db.delete_server("main", skip_final_snapshot: true) }
    db.delete_server("main", skip_final_snapshot: true, override_protection: "main")
    assert_nil db.get_server("main")
    refute_includes provisio_cloud.inventory.inspect, "r0le-pw"
  end

  def test_database_dump_and_restore_through_storage
    db = provisio_providers.database
    storage = provisio_providers.storage
    storage.ensure_bucket("acme-archive")
    db.ensure_role("acme", "r0le-pw")
    db.ensure_database("acme", "acme")
    db.apply_seed("acme", "initial", "create table t (id int)")
    dump = db.dump_to_storage("acme", storage: storage, bucket: "acme-archive", key: "acme/db.dump")
    assert_operator dump[:size], :>, 0
    assert_equal 64, dump[:sha256].length
    assert_raises(Provisio::ConflictError) do
      db.restore_from_storage("acme", owner: "acme", storage: storage, bucket: "acme-archive", key: "acme/db.dump")
    end
    db.drop_database("acme", confirm: "acme")
    restored = db.restore_from_storage("acme", owner: "acme", storage: storage, bucket: "acme-archive",
                                               key: "acme/db.dump", size: dump[:size], sha256: dump[:sha256])
    assert_equal({ database: "acme", created: true, bytes: dump[:size] }, restored)
    assert_equal "unchanged", db.apply_seed("acme", "initial", "create table t (id int)")[:outcome]
    assert_raises(TypeError) { db.dump_to_storage("acme", storage: db, bucket: "acme-archive", key: "k") }
  end

  def test_repo_bodies_are_binary
    repo = provisio_providers.repo
    repo.ensure_branch("main") rescue nil
    repo.write_files("main", { "README" => "hi" }, message: "init") if repo.get_branch("main").nil?
    repo.ensure_branch("tenant-acme", "main")
    assert_equal "tenant-acme", repo.get_branch("tenant-acme")[:name]
    repo.write_files("tenant-acme", { "conf/app.yml" => "a: 1\n", "bin/x" => "\x01\x02".b }, message: "add")
    assert_equal "\x01\x02".b, repo.read_file("tenant-acme", "bin/x")
    assert_equal Encoding::BINARY, repo.read_file("tenant-acme", "conf/app.yml").encoding
    assert_nil repo.read_file("tenant-acme", "missing")
    assert_equal "unchanged", repo.write_files("tenant-acme", { "conf/app.yml" => "a: 1\n" }, message: "same")[:outcome]
    assert_equal "deleted", repo.delete_branch("tenant-acme")
  end

  def test_mail
    mail = provisio_providers.mail
    assert_equal "created", mail.ensure_identity("acme.example.com", tags: { tenant: "acme" })[:outcome]
    assert_equal "acme.example.com", mail.get_identity("acme.example.com")[:name]
    assert_equal "deleted", mail.delete_identity("acme.example.com")
    assert_nil mail.get_identity("acme.example.com")
  end

  def test_memory_cloud_faults_and_inventory
    providers = Provisio::Providers.memory(seed: 7, calls: { retry: { max_attempts: 1 } })
    cloud = providers.cloud
    storage = providers.storage
    storage.ensure_bucket("bucket-b")
    cloud.faults.error_on_call("storage.put_object", 1, :transient)
    err = assert_raises(Provisio::TransientError) { storage.put_object("bucket-b", "k", "v") }
    assert err.retryable?
    assert_equal "storage.put_object", err.operation
    storage.put_object("bucket-b", "k", "v")
    assert_equal 2, cloud.faults.calls("storage.put_object")
    assert_equal 1, cloud.faults.mutations("storage.put_object")
    assert_equal 1, cloud.faults.injected.size
    assert cloud.faults.call_log.all?(&:frozen?)
    cloud.faults.rate_limit(storage.info[:account], 1, 60.0)
    storage.get_bucket("bucket-b")
    limited = assert_raises(Provisio::RateLimitedError) { storage.get_bucket("bucket-b") }
    assert limited.retryable?
    assert_kind_of Float, limited.retry_after
    cloud.faults.clear
    assert cloud.inventory[:"storage.object"].key?(:"bucket-b/k")
    assert_kind_of Hash, cloud.retired
    cloud.faults.reset_counters
    assert_equal 0, cloud.faults.calls
  end

  def test_a_memory_cloud_of_its_own
    cloud = Provisio::MemoryCloud.new(seed: 5)
    assert_equal 5, cloud.seed
    cloud.apply_fixtures(LaunchExample::FIXTURES)
    assert cloud.dns.find_zone("example.com")
    Dir.mktmpdir do |dir|
      cloud.save(File.join(dir, "world.json"))
      assert File.exist?(File.join(dir, "world.json"))
    end
  end
end
