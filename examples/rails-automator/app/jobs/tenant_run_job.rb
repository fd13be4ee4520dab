# frozen_string_literal: true

# What the launch and retire jobs share: the tenant's status while the run goes on, its steps
# recorded from the events, and a failed run turned into a readable error the tenant page shows
# (the tenant can then be retried). provisio's errors carry no secret values, so the message and
# the log line are safe to keep.
class TenantRunJob < ApplicationJob
  queue_as :provisioning
  discard_on ActiveRecord::RecordNotFound

  private

  # Marks the tenant `status` for `operation`, yields it and its StepProgress, and records a
  # failure of the block on the tenant.
  def run_for(tenant_id, status:, operation:)
    tenant = Tenant.find(tenant_id)
    tenant.update!(status: status, operation: operation, error_message: nil)
    yield tenant, StepProgress.new(tenant)
  rescue ActiveRecord::RecordNotFound
    raise
  rescue StandardError => e
    Rails.logger.error("provisio #{operation} of #{tenant&.name} failed: #{e.class}: #{e.message}")
    return unless tenant

    run_id = e.report&.dig(:run_id) if e.respond_to?(:report)
    tenant.update!(status: "failed", error_message: Provisioner.describe(e), run_id: run_id || tenant.run_id)
  end
end
