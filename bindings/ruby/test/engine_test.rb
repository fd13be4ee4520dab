# frozen_string_literal: true

require_relative "test_helper"

class EngineTest < Minitest::Test
  include Provisio::Testing
  include LaunchExample

  def setup
    @engine = provisio_engine(fixtures: FIXTURES)
  end

  def test_launch_plan_apply_noop_destroy
    before = provisio_cloud.inventory
    plan = @engine.plan(BLUEPRINT, "acme", secrets: SMTP)
    assert plan.frozen? && plan[:counts].frozen?
    assert_equal RESOURCES, plan[:counts][:create]
    assert plan[:has_changes]

    report = @engine.apply(BLUEPRINT, "acme", secrets: SMTP)
    assert report[:success]
    assert_empty report[:errors]
    assert_equal RESOURCES, report[:summary][:created] + report[:summary][:updated]
    assert_provisio_resource "dns.record", "A acme.example.com"
    assert_provisio_resource "secrets.secret", "acme-smtp-password"
    refute_includes provisio_cloud.inventory.inspect, SMTP[:smtp_password]
    assert_equal "acme.example.com", @engine.outputs("acme")[:dns_prod][:fqdn]

    again = @engine.plan(BLUEPRINT, "acme", secrets: SMTP)
    refute again[:has_changes]
    assert_equal RESOURCES, again[:counts][:no_op]
    noop = @engine.apply(BLUEPRINT, "acme", secrets: SMTP)
    assert_equal RESOURCES, noop[:summary][:unchanged]
    assert_equal 0, noop[:summary][:created]

    kept = @engine.destroy(BLUEPRINT, "acme")
    assert_equal ["database"], kept[:kept_protected]
    gone = @engine.destroy(BLUEPRINT, "acme", allow: ["database"])
    assert gone[:success]
    assert_equal({}, @engine.outputs("acme"))
    assert_equal before[:"dns.record"], provisio_cloud.inventory[:"dns.record"]
    assert provisio_cloud.retired.fetch(:"secrets.deleted_secret", {}).key?(:"acme-smtp-password")
  end

  def test_blueprint_objects
    bp = Provisio::Blueprint.load(BLUEPRINT)
    assert_equal "launch-tenant", bp.name
    assert_equal RESOURCES + 2, bp.resources.size # two more only while archived or retired
    assert bp.variables[:smtp_password][:secret]
    assert bp.to_h.frozen?
    assert_match(/launch-tenant/, bp.inspect)
    assert_equal RESOURCES, @engine.plan(bp, "acme", secrets: SMTP)[:counts][:create]
    tiny = Provisio::Blueprint.from_hash({ name: "tiny", resources: {} })
    assert_equal "tiny", tiny.name
    assert_equal "j", Provisio::Blueprint.from_json('{"name": "j", "resources": {}}').name
    assert_equal "y", Provisio::Blueprint.from_yaml("name: y\nresources: {}\n").name
    assert_raises(Provisio::InvalidInputError) { Provisio::Blueprint.from_yaml("name: [") }
  end

  def test_tenant_as_a_hash_with_vars
    report = @engine.apply(BLUEPRINT, { name: "beta", vars: { size: "large" }, secrets: SMTP })
    assert report[:success]
    assert_provisio_resource "compute.instance", name: "beta-web"
  end

  def test_events_are_frozen_hashes_delivered_to_the_block_on_the_calling_thread
    events = []
    threads = []
    @engine.apply(BLUEPRINT, "acme", secrets: SMTP) do |event|
      events << event
      threads << Thread.current
    end
    assert_equal "run_started", events.first[:type]
    assert_equal "run_finished", events.last[:type]
    assert_equal RESOURCES, events.count { |e| e[:type] == "step_succeeded" }
    assert events.all?(&:frozen?)
    assert events.all? { |e| e.keys.all?(Symbol) }
    assert_equal [Thread.current], threads.uniq
    refute_includes events.inspect, SMTP[:smtp_password]
  end

  def test_an_exception_in_the_block_cancels_the_run_and_a_second_apply_resumes
    assert_raises(ZeroDivisionError) do
      @engine.apply(BLUEPRINT, "acme", secrets: SMTP) { |e| 1 / 0 if e[:type] == "step_succeeded" }
    end
    assert @engine.apply(BLUEPRINT, "acme", secrets: SMTP)[:success]
  end

  def test_a_failed_run_raises_with_its_report
    provisio_cloud.faults.error_rate("mail.ensure_identity", 1.0, :permission_denied)
    err = assert_raises(Provisio::PermissionDeniedError) { @engine.apply(BLUEPRINT, "acme", secrets: SMTP) }
    refute err.report[:success]
    assert err.report.frozen?
    assert_equal "mail", err.report[:errors][0][:resource]
    assert_operator err.report[:summary][:rolled_back], :>, 0
    unchecked = @engine.apply(BLUEPRINT, "acme", secrets: SMTP, check: false)
    refute unchecked[:success]
    assert_equal "permission_denied", unchecked[:errors][0][:kind]
  end

  def test_a_missing_secret_is_invalid_input
    err = assert_raises(Provisio::InvalidInputError) { @engine.apply(BLUEPRINT, "acme") }
    assert_match(/smtp_password/, err.message)
  end

  def test_refresh_reports_drift
    @engine.apply(BLUEPRINT, "acme", secrets: SMTP)
    clean = @engine.refresh(BLUEPRINT, "acme", secrets: SMTP)
    refute clean[:has_drift]
    provisio_cloud.dns.delete_record("example.com", "acme.example.com", "A")
    drift = @engine.refresh(BLUEPRINT, "acme", secrets: SMTP)
    assert drift[:has_drift]
  end

  def test_fleet_run
    events = []
    tenants = 3.times.map { |i| { name: "f#{i}", secrets: SMTP } }
    report = @engine.fleet(BLUEPRINT, tenants, fleet_id: "rollout-1", canary: 1) { |e| events << e }
    assert report[:success]
    %w[f0 f1 f2].each { |t| assert_provisio_resource "compute.instance", name: "#{t}-web" }
    assert events.any? { |e| e[:tenant] == "f2" }
    gone = @engine.fleet(BLUEPRINT, tenants.map { |t| t[:name] }, fleet_id: "teardown", destroy: true)
    assert_kind_of Hash, gone
  end

  def test_sqlite_state_survives_a_new_engine
    Dir.mktmpdir do |dir|
      path = File.join(dir, "state", "provisio.db")
      engine = Provisio::Engine.new(provisio_providers, path)
      engine.apply(BLUEPRINT, "acme", secrets: SMTP)
      again = Provisio::Engine.new(provisio_providers, Provisio::StateStore.sqlite(path))
      assert_equal "acme.example.com", again.outputs("acme")[:dns_prod][:fqdn]
      assert_match(/sqlite/, Provisio::StateStore.open(path).inspect)
    end
  end

  # PostgreSQL state: scripts/test.sh starts PostgreSQL and sets PROVISIO_TEST_POSTGRES_URL.
  def test_postgres_state_store
    url = ENV.fetch("PROVISIO_TEST_POSTGRES_URL", nil)
    skip "PROVISIO_TEST_POSTGRES_URL is not set (scripts/test.sh sets it)" unless url
    tenant = "rb-pg-#{Process.pid}-#{rand(1_000_000)}"
    engine = Provisio::Engine.new(provisio_providers, url)
    assert engine.apply(BLUEPRINT, tenant, secrets: SMTP)[:success]
    again = Provisio::Engine.new(provisio_providers, Provisio::StateStore.postgres(url))
    assert_equal "#{tenant}.example.com", again.outputs(tenant)[:dns_prod][:fqdn]
    assert again.destroy(BLUEPRINT, tenant, allow: ["database"])[:success]
  end

  def test_retry_policy_and_engine_options
    providers = Provisio::Providers.memory(fixtures: FIXTURES, calls: { retry: { max_attempts: 1 } })
    providers.cloud.faults.error_rate("dns.ensure_record", 1.0, :transient)
    providers.cloud.faults.reset_counters
    engine = Provisio::Engine.new(providers, :memory, concurrency: 2, lock_owner: "ruby-test",
                                                      retry_policy: { max_attempts: 1 })
    err = assert_raises(Provisio::TransientError) { engine.apply(BLUEPRINT, "acme", secrets: SMTP) }
    assert err.retryable?
    assert_operator err.report[:summary][:failed], :>=, 1
    # one attempt: the engine's retry policy (and the providers' calls policy) say so
    assert_equal 1, providers.cloud.faults.calls("dns.ensure_record")
  end

  def test_blueprint_as_yaml_text_and_hash
    yaml = "name: tiny\nresources:\n  rec:\n    type: dns.record\n    params: { zone: example.com, name: tiny.example.com, type: A, content: 192.0.2.9, ttl: 60 }\n"
    assert @engine.apply(yaml, "t1")[:success]
    hash = { name: "tiny2", resources: { rec: { type: "dns.record", params: { zone: "example.com", name: "tiny2.example.com", type: "A", content: "192.0.2.8", ttl: 60 } } } }
    assert @engine.apply(hash, "t2")[:success]
    assert_provisio_resource "dns.record", "A tiny2.example.com"
  end

  class Welcome < Provisio::Step
    attr_reader :calls

    def initialize
      super
      @calls = []
    end

    def name = "acme.welcome_mail"
    def outputs = ["sent_to"]

    def apply(ctx, params, prior)
      @calls << [:apply, Thread.current, ctx.tenant, ctx.secrets[:smtp_password].reveal, prior]
      { sent_to: params[:to] }
    end

    def delete(ctx, _params, outputs)
      @calls << [:delete, Thread.current, ctx.tenant, outputs[:sent_to]]
      true
    end
  end

  CUSTOM = {
    name: "custom",
    variables: { smtp_password: { secret: true } },
    resources: { welcome: { type: "acme.welcome_mail", params: { to: "ops@${tenant.name}.example.com" } } }
  }.freeze

  def test_custom_ruby_step
    step = Welcome.new
    engine = Provisio::Engine.new(provisio_providers, steps: [step])
    report = engine.apply(CUSTOM, "acme", secrets: SMTP)
    assert report[:success]
    assert_equal 1, report[:summary][:created]
    kind, thread, tenant, secret, prior = step.calls.first
    assert_equal [:apply, Thread.current, "acme", SMTP[:smtp_password], nil], [kind, thread, tenant, secret, prior]
    assert_equal({ welcome: { sent_to: "ops@acme.example.com" } }, engine.outputs("acme"))
    assert_equal 1, engine.apply(CUSTOM, "acme", secrets: SMTP)[:summary][:unchanged]
    assert engine.destroy(CUSTOM, "acme")[:success]
    assert_equal [:delete, Thread.current, "acme", "ops@acme.example.com"], step.calls.last
  end

  class Drifting < Welcome
    attr_accessor :remote

    def name = "acme.drifting"

    def read(_ctx, _params, prior)
      @calls << [:read, Thread.current]
      remote || prior
    end
  end

  def test_refresh_calls_the_ruby_step_read_on_the_calling_thread
    step = Drifting.new
    engine = Provisio::Engine.new(provisio_providers, steps: [step])
    bp = { name: "d", variables: { smtp_password: { secret: true } },
           resources: { welcome: { type: "acme.drifting", params: { to: "a@b" } } } }
    engine.apply(bp, "acme", secrets: SMTP)
    refute engine.refresh(bp, "acme", secrets: SMTP)[:has_drift]
    step.remote = { sent_to: "someone-else@b" }
    assert engine.refresh(bp, "acme", secrets: SMTP)[:has_drift]
    reads = step.calls.select { |c| c.first == :read }
    assert_operator reads.size, :>=, 2
    assert_equal [Thread.current], reads.map(&:last).uniq
  end

  class Flaky
    attr_reader :tries

    def initialize = @tries = 0
    def name = "acme.flaky"

    def apply(_ctx, _params, _prior)
      @tries += 1
      raise Provisio::TransientError, "not yet" if @tries < 2

      { ok: true }
    end
  end

  class Broken
    def name = "acme.broken"
    def apply(*) = raise(ArgumentError, "boom")
  end

  def test_step_errors_keep_their_kind
    flaky = Flaky.new
    engine = Provisio::Engine.new(provisio_providers, steps: [flaky, Broken.new])
    assert engine.apply({ name: "f", resources: { f: { type: "acme.flaky", params: {} } } }, "acme")[:success]
    assert_equal 2, flaky.tries
    err = assert_raises(Provisio::UnexpectedError) do
      engine.apply({ name: "b", resources: { b: { type: "acme.broken", params: {} } } }, "acme")
    end
    assert_match(/ArgumentError: boom/, err.message)
    assert_equal "b", err.report[:errors][0][:resource]
  end

  def test_a_step_must_respond_to_name_and_apply
    err = assert_raises(TypeError) { Provisio::Engine.new(provisio_providers, steps: [Object.new]) }
    assert_match(/steps/, err.message)
  end

  def test_lifecycle_transitions
    assert_raises(Provisio::NotFoundError) { @engine.archive(BLUEPRINT, "acme", secrets: SMTP) }
    assert_nil @engine.phase("acme")
    @engine.apply(BLUEPRINT, "acme", secrets: SMTP)
    assert_equal "launched", @engine.phase("acme")[:phase]
    www = -> { provisio_cloud.inventory[:"dns.record"][:"A acme.example.com"][:content] }

    report = @engine.suspend(BLUEPRINT, "acme", secrets: SMTP)
    assert_equal "suspend", report[:operation]
    assert_equal 2, report[:summary][:updated] # web stopped, dns_prod at maintenance
    assert_equal 2, report[:summary][:deleted] # the staging stack and the health check
    assert_equal "192.0.2.250", www.call
    assert_equal "suspended", @engine.phase("acme")[:phase]
    e = assert_raises(Provisio::ConflictError) { @engine.apply(BLUEPRINT, "acme", secrets: SMTP) }
    assert_match(/run `resume` first/, e.message)
    e = assert_raises(Provisio::ConflictError) { @engine.restore(BLUEPRINT, "acme", secrets: SMTP) }
    assert_match(/from suspended: resume, archive, retire/, e.message)
    @engine.transition(BLUEPRINT, "acme", "resume", secrets: SMTP)
    refute_equal "192.0.2.250", www.call

    plan = @engine.plan_transition(BLUEPRINT, "acme", :archive, secrets: SMTP)
    assert_equal "delete", plan[:resources].find { |r| r[:name] == "web" }[:action]
    @engine.archive(BLUEPRINT, "acme", secrets: SMTP)
    assert_empty provisio_cloud.inventory.fetch(:"compute.instance", {})
    assert_equal "archived", @engine.phase("acme")[:phase]
    @engine.restore(BLUEPRINT, "acme", secrets: SMTP)
    assert_equal 1, provisio_cloud.inventory[:"compute.instance"].size

    assert_raises(Provisio::ProtectedError) { @engine.retire(BLUEPRINT, "acme", secrets: SMTP) }
    @engine.retire(BLUEPRINT, "acme", secrets: SMTP, allow: ["database"])
    assert_equal "retired", @engine.phase("acme")[:phase]
    e = assert_raises(ArgumentError) { @engine.transition(BLUEPRINT, "acme", :hibernate) }
    assert_match(/transition: :hibernate is not one of suspend/, e.message)
  end
end
