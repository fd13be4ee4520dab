# frozen_string_literal: true

# Records a run's events as the tenant's step rows, so the tenant's page shows each resource's
# progress while the run goes on. Called on the job's thread, once per event.
class StepProgress
  def initialize(tenant)
    @tenant = tenant
  end

  # Applies one provisio event (a frozen Hash) to the step rows.
  def record(event)
    case event[:type]
    when "run_started" then start(event[:resources])
    when "step_started" then step(event, status: "running", action: event[:action], message: nil)
    when "step_retrying"
      step(event, status: "retrying",
                  message: "attempt #{event[:attempt]} failed: #{event[:reason]}; next in #{event[:delay_ms]} ms")
    when "step_succeeded"
      step(event, status: event[:outcome], duration_ms: event[:duration_ms], requests: event[:requests], message: nil)
    when "step_failed" then step(event, status: "failed", message: error_text(event[:error]))
    when "step_skipped" then step(event, status: "skipped", message: event[:reason])
    when "step_rolled_back" then step(event, status: "rolled back")
    end
  end

  private

  def start(resources)
    now = Time.current
    @tenant.steps.delete_all
    rows = resources.each_with_index.map do |resource, position|
      { tenant_id: @tenant.id, resource: resource, position: position, status: "waiting", created_at: now, updated_at: now }
    end
    TenantStep.insert_all(rows) unless rows.empty?
  end

  # Updates one step row, and the tenant's updated_at: the sign of life Tenant#stalled? reads.
  def step(event, **changes)
    now = Time.current
    @tenant.steps.where(resource: event[:resource]).update_all(changes.merge(updated_at: now))
    Tenant.where(id: @tenant.id).update_all(updated_at: now)
  end

  def error_text(error)
    return error.to_s unless error.is_a?(Hash)

    [error[:message], error[:kind] && "(#{error[:kind]})"].compact.join(" ")
  end
end
