# frozen_string_literal: true

# Retires a tenant: provisio destroys its resources; the database (a protected resource) only
# when customer service asked for it by name, otherwise it is kept and listed.
class RetireTenantJob < ApplicationJob
  queue_as :provisioning
  discard_on ActiveRecord::RecordNotFound

  def perform(tenant_id, drop_database: false)
    tenant = Tenant.find(tenant_id)
    tenant.update!(status: "retiring", operation: "destroy", error_message: nil)
    progress = StepProgress.new(tenant)
    report = Provisioner.instance.retire(tenant, drop_database: drop_database) { |event| progress.record(event) }
    tenant.update!(status: "retired", run_id: report[:run_id], outputs: nil,
                   kept_protected: report[:kept_protected], retired_at: Time.current)
  rescue ActiveRecord::RecordNotFound
    raise
  rescue StandardError => e
    RunFailure.record(tenant, e)
  end
end
