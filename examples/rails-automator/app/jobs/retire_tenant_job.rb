# frozen_string_literal: true

# Retires a tenant: provisio destroys its resources; the database (a protected resource) only
# when customer service asked for it by name, otherwise it is kept and listed.
class RetireTenantJob < TenantRunJob
  def perform(tenant_id, drop_database: false)
    run_for(tenant_id, status: "retiring", operation: "destroy") do |tenant, progress|
      report = Provisioner.instance.retire(tenant, drop_database: drop_database) { |event| progress.record(event) }
      tenant.update!(status: "retired", run_id: report[:run_id], outputs: nil,
                     kept_protected: report[:kept_protected], retired_at: Time.current)
    end
  end
end
