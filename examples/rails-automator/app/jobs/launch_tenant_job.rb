# frozen_string_literal: true

# Launches a tenant with provisio (or finishes an interrupted or failed launch: provisio's
# journal resumes where the last run stopped), recording each step's progress.
class LaunchTenantJob < ApplicationJob
  queue_as :provisioning
  discard_on ActiveRecord::RecordNotFound

  def perform(tenant_id)
    tenant = Tenant.find(tenant_id)
    tenant.update!(status: "launching", operation: "apply", error_message: nil)
    progress = StepProgress.new(tenant)
    provisioner = Provisioner.instance
    report = provisioner.launch(tenant) { |event| progress.record(event) }
    tenant.update!(status: "launched", run_id: report[:run_id], outputs: provisioner.outputs(tenant),
                   launched_at: Time.current, retired_at: nil, kept_protected: nil)
  rescue ActiveRecord::RecordNotFound
    raise
  rescue StandardError => e
    RunFailure.record(tenant, e)
  end
end
