# frozen_string_literal: true

# The form customer service fills in for a new customer, the tenant list, and each tenant's
# page: progress, outputs, errors, retry and retire.
class TenantsController < ApplicationController
  before_action :find_tenant, only: %i[show retry retire]

  def index
    @tenants = Tenant.order(created_at: :desc)
  end

  def new
    @tenant = Tenant.new(plan: "starter", size: "small")
  end

  def create
    @tenant = Tenant.new(tenant_params.merge(status: "pending", operation: "apply"))
    if @tenant.save
      LaunchTenantJob.perform_later(@tenant.id)
      redirect_to @tenant, notice: "Launching #{@tenant.name}."
    else
      render :new, status: :unprocessable_entity
    end
  end

  def show; end

  # Launches again after a failure (provisio resumes where the failed run stopped) or after a
  # retirement.
  def retry
    unless @tenant.relaunchable?
      return redirect_to(@tenant, alert: "#{@tenant.name} is #{@tenant.status}: nothing to retry.")
    end
    return redirect_to(@tenant, alert: "A run for #{@tenant.name} is already under way.") unless @tenant.start!("pending", "apply")

    LaunchTenantJob.perform_later(@tenant.id)
    redirect_to @tenant, notice: "Launching #{@tenant.name} again."
  end

  # Retires the tenant. Destructive, so it takes the tenant's name typed again; the database
  # is dropped only when that box is ticked too.
  def retire
    if params[:confirm_name].to_s.strip != @tenant.name
      return redirect_to(@tenant, alert: "Type the tenant's name (#{@tenant.name}) to confirm the retirement.")
    end
    return redirect_to(@tenant, alert: "#{@tenant.name} is #{@tenant.status}: it cannot be retired now.") unless @tenant.retirable?
    return redirect_to(@tenant, alert: "A run for #{@tenant.name} is already under way.") unless @tenant.start!("retiring", "destroy")

    RetireTenantJob.perform_later(@tenant.id, drop_database: params[:drop_database] == "1")
    redirect_to @tenant, notice: "Retiring #{@tenant.name}."
  end

  private

  def find_tenant
    @tenant = Tenant.find_by!(name: params[:id])
  end

  def tenant_params
    params.require(:tenant).permit(:name, :domain, :plan, :size)
  end
end
