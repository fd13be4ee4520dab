# frozen_string_literal: true

require "test_helper"

# The jobs against the memory providers: what they provisioned is read from the memory world's
# inventory (Provisio::Testing), not from the app's own records.
class LaunchTenantJobTest < ActiveJob::TestCase
  test "a launch provisions the tenant and records each step and the outputs" do
    tenant = create_tenant("acme")
    LaunchTenantJob.perform_now(tenant.id)
    tenant.reload

    assert_equal "launched", tenant.status, tenant.error_message
    assert_equal 24, tenant.steps.count
    assert_equal ["created"], tenant.steps.map(&:status).uniq
    assert tenant.steps.all? { |s| s.duration_ms && s.requests }, "durations and requests recorded"
    assert_equal "acme.example.com", tenant.outputs.dig("dns_prod", "fqdn")
    assert_equal "acme-web", tenant.outputs.dig("web", "name")

    assert_provisio_resource "compute.instance", name: "acme-web"
    assert_provisio_count "dns.record", 3 # the two tenant records and the zone's SPF record
    assert_provisio_resource "database.database", "acme"
    secret = provisio_providers.secrets.get_secret("acme-smtp-password")
    assert_equal SMTP_PASSWORD, secret[:value].reveal
  end

  test "the SMTP password reaches no record, output, step or log line" do
    log = StringIO.new
    previous = Rails.logger
    Rails.logger = ActiveSupport::Logger.new(log)
    tenant = create_tenant("acme")
    LaunchTenantJob.perform_now(tenant.id)
    Rails.logger = previous
    tenant.reload
    assert_equal "launched", tenant.status
    [tenant.attributes.to_json, tenant.steps.map(&:attributes).to_json, log.string].each do |text|
      refute_includes text, SMTP_PASSWORD
    end
  end

  test "a failing provider shows a readable error, and the retry finishes the launch" do
    provisio_cloud.faults.error_rate("dns.ensure_record", 1.0, :permission_denied)
    tenant = create_tenant("acme")
    LaunchTenantJob.perform_now(tenant.id)
    tenant.reload

    assert_equal "failed", tenant.status
    assert_match(/\AStep dns_prod failed: .*permission/i, tenant.error_message)
    assert_match(/Fix the cause, then retry\.\z/, tenant.error_message)
    assert_equal "failed", tenant.steps.find_by!(resource: "dns_prod").status
    assert_equal "skipped", tenant.steps.find_by!(resource: "dns_stg").status
    refute_provisio_resource "dns.record", "A acme.example.com"

    provisio_cloud.faults.clear
    assert tenant.start!("pending", "apply")
    LaunchTenantJob.perform_now(tenant.id)
    tenant.reload
    assert_equal "launched", tenant.status, tenant.error_message
    assert_nil tenant.error_message
    assert_provisio_resource "dns.record", "A acme.example.com"
    # the retry resumed: the instance the first run created was not created twice
    assert_provisio_count "compute.instance", 1
  end

  test "a transient failure says a retry may help" do
    # one attempt per call and per step, so the fault is not retried away
    providers = Provisio::Providers.memory(fixtures: Provisio::Testing::LAUNCH_FIXTURES, calls: { retry: { max_attempts: 1 } })
    providers.cloud.faults.error_rate("storage.*", 1.0, :transient)
    Provisioner.use(providers: providers, state: Provisio::StateStore.memory, retry_policy: { max_attempts: 1 })
    tenant = create_tenant("acme")
    LaunchTenantJob.perform_now(tenant.id)
    assert_equal "failed", tenant.reload.status
    assert_match(/\AStep assets failed: .*This looks temporary: retry\.\z/, tenant.error_message)
  end

  test "without an SMTP password the launch fails before anything is provisioned" do
    previous = ENV.delete("AUTOMATOR_SMTP_PASSWORD")
    provisio_cloud.faults.reset_counters # the fixtures are in place; count from here
    tenant = create_tenant("acme")
    LaunchTenantJob.perform_now(tenant.id)
    assert_equal "failed", tenant.reload.status
    assert_match(/no SMTP password/, tenant.error_message)
    assert_equal 0, provisio_cloud.faults.mutations
  ensure
    ENV["AUTOMATOR_SMTP_PASSWORD"] = previous
  end

  test "retire keeps the protected database unless asked, then drops it" do
    tenant = create_tenant("acme")
    LaunchTenantJob.perform_now(tenant.id)
    assert tenant.reload.start!("retiring", "destroy")
    RetireTenantJob.perform_now(tenant.id)
    tenant.reload
    assert_equal "retired", tenant.status, tenant.error_message
    assert_includes tenant.kept_protected, "database"
    refute_provisio_resource "compute.instance", name: "acme-web"
    refute_provisio_resource "dns.record", "A acme.example.com"
    assert_provisio_resource "database.database", "acme"

    # launched again, then retired with the database
    assert tenant.start!("pending", "apply")
    LaunchTenantJob.perform_now(tenant.id)
    assert_equal "launched", tenant.reload.status
    assert tenant.start!("retiring", "destroy")
    RetireTenantJob.perform_now(tenant.id, drop_database: true)
    assert_equal "retired", tenant.reload.status
    refute_provisio_resource "database.database", "acme"
    assert_empty tenant.kept_protected
  end
end
