# frozen_string_literal: true

require "test_helper"

class TenantsControllerTest < ActionDispatch::IntegrationTest
  include ActiveJob::TestHelper

  def valid_params(**attrs)
    { tenant: { name: "acme", domain: "example.com", plan: "business", size: "medium" }.merge(attrs) }
  end

  test "the form" do
    get new_tenant_path
    assert_response :success
    assert_select "form input[name='tenant[name]']"
    assert_select "select[name='tenant[plan]'] option", Tenant::PLANS.size
    assert_select "input[name*=password]", 0
  end

  test "bad input gets the validation messages, and no job" do
    assert_no_enqueued_jobs do
      post tenants_path, params: valid_params(name: "Acme_Corp!", domain: "nope", size: "huge")
    end
    assert_response :unprocessable_entity
    assert_select "#errors li", 3
    assert_match "may only contain lower-case letters", response.body
    assert_match "not a valid DNS zone", response.body
    assert_equal 0, Tenant.count
  end

  test "a valid tenant is saved and its launch enqueued" do
    assert_enqueued_with(job: LaunchTenantJob) do
      post tenants_path, params: valid_params
    end
    tenant = Tenant.find_by!(name: "acme")
    assert_redirected_to tenant_path(tenant)
    assert_equal %w[pending apply business medium], [tenant.status, tenant.operation, tenant.plan, tenant.size]
  end

  test "a secret-looking parameter is filtered from the log" do
    log = StringIO.new
    previous = Rails.logger
    Rails.logger = ActiveSupport::Logger.new(log)
    ActionController::Base.logger = Rails.logger
    post tenants_path, params: valid_params.merge(smtp_password: "leaked-9931")
    assert_includes log.string, "[FILTERED]"
    refute_includes log.string, "leaked-9931"
  ensure
    Rails.logger = previous
    ActionController::Base.logger = previous
  end

  test "the tenant page shows progress, outputs and errors" do
    tenant = create_tenant("acme")
    perform_enqueued_jobs { LaunchTenantJob.perform_later(tenant.id) }
    get tenant_path(tenant)
    assert_response :success
    assert_select "#status", "launched"
    assert_select "#outputs", /acme\.example\.com/
    assert_select "#steps tbody tr", 24
    assert_select "meta[http-equiv=refresh]", 0

    tenant.update!(status: "failed", error_message: "Step dns_prod failed: denied. Fix the cause, then retry.")
    get tenant_path(tenant)
    assert_select "#error", /Step dns_prod failed/
    assert_select "form[action='#{retry_tenant_path(tenant)}']"
  end

  test "a busy tenant's page refreshes itself and cannot be started twice" do
    tenant = create_tenant("acme", status: "launching")
    get tenant_path(tenant)
    assert_select "meta[http-equiv=refresh]"
    assert_no_enqueued_jobs do
      post retry_tenant_path(tenant)
      post retire_tenant_path(tenant), params: { confirm_name: "acme" }
    end
    assert_equal "launching", tenant.reload.status
  end

  test "an interrupted run (no progress for STALL_AFTER) can be resumed" do
    tenant = create_tenant("acme", status: "launching")
    tenant.update_columns(updated_at: (Tenant::STALL_AFTER + 1.minute).ago)
    get tenant_path(tenant)
    assert_select "#stalled", /probably interrupted/
    assert_select "meta[http-equiv=refresh]", 0
    assert_enqueued_with(job: LaunchTenantJob, args: [tenant.id]) { post retry_tenant_path(tenant) }
    assert_equal "pending", tenant.reload.status
    # and the launch the job runs finishes what the interrupted one began
    perform_enqueued_jobs
    assert_equal "launched", tenant.reload.status
  end

  test "retire takes the tenant's name typed again" do
    tenant = create_tenant("acme", status: "launched")
    assert_no_enqueued_jobs { post retire_tenant_path(tenant), params: { confirm_name: "acm" } }
    assert_redirected_to tenant_path(tenant)
    assert_match(/Type the tenant's name/, flash[:alert])
    assert_enqueued_with(job: RetireTenantJob, args: [tenant.id, { drop_database: true }]) do
      post retire_tenant_path(tenant), params: { confirm_name: "acme", drop_database: "1" }
    end
    assert_equal "retiring", tenant.reload.status
  end

  test "an unknown tenant is a 404" do
    assert_raises(ActiveRecord::RecordNotFound) { get tenant_path("nobody") }
  end
end
