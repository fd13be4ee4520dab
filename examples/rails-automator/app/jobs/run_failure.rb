# frozen_string_literal: true

# What a launch or retirement job does when its run fails: the tenant shows a readable error
# and can be retried; unexpected errors are logged with their class (provisio's errors carry no
# secret values).
module RunFailure
  def self.record(tenant, error)
    return if tenant.nil?

    Rails.logger.error("provisio run for #{tenant.name} failed: #{error.class}: #{error.message}")
    run_id = error.report&.dig(:run_id) if error.respond_to?(:report)
    tenant.update!(status: "failed", error_message: Provisioner.describe(error), run_id: run_id || tenant.run_id)
  end
end
