# frozen_string_literal: true

# Launches a tenant with provisio (or finishes an interrupted or failed launch: provisio's
# journal resumes where the last run stopped), recording each step's progress.
class LaunchTenantJob < TenantRunJob
  def perform(tenant_id)
    run_for(tenant_id, status: "launching", operation: "apply") do |tenant, progress|
      provisioner = Provisioner.instance
      report = provisioner.launch(tenant) { |event| progress.record(event) }
      tenant.update!(status: "launched", run_id: report[:run_id], outputs: provisioner.outputs(tenant),
                     launched_at: Time.current, retired_at: nil, kept_protected: nil)
    end
  end
end
