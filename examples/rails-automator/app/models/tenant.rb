# frozen_string_literal: true

# A customer's tenant: what customer service entered, and where its provisioning stands.
#
# The name becomes DNS labels, bucket prefixes, CI job names, git branches and database
# identifiers, so it follows provisio's tenant-name rule (validated here, before any job runs,
# so the form shows the message).
class Tenant < ApplicationRecord
  PLANS = %w[starter business enterprise].freeze
  SIZES = %w[small medium large].freeze
  STATUSES = %w[pending launching launched failed retiring retired].freeze
  BUSY = %w[pending launching retiring].freeze
  # A run that reported no progress for this long is taken for interrupted (the app stopped
  # mid-run): it may be started again. provisio's tenant lock still refuses a second run while
  # the first is really alive, and its journal resumes what the interrupted run began.
  STALL_AFTER = 10.minutes
  NAME_RULE = /\A[a-z](?:[a-z0-9]|-(?=[a-z0-9]))*\z/
  HOSTNAME_RULE = /\A(?=.{1,253}\z)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}\z/

  has_many :steps, -> { order(:position, :id) }, class_name: "TenantStep", dependent: :delete_all, inverse_of: :tenant

  serialize :outputs, JSON
  serialize :kept_protected, JSON

  before_validation :normalize

  validates :name, presence: true, uniqueness: true, length: { in: 2..32 }
  validates :name, format: { with: NAME_RULE, message: "may only contain lower-case letters, digits and single hyphens, " \
                                                       "starting with a letter and ending with a letter or digit" },
                   allow_blank: true
  validates :domain, presence: true, format: { with: HOSTNAME_RULE, message: "is not a valid DNS zone name (like example.com)" },
                     allow_blank: false
  validates :plan, inclusion: { in: PLANS, message: "must be one of #{PLANS.join(', ')}" }
  validates :size, inclusion: { in: SIZES, message: "must be one of #{SIZES.join(', ')}" }
  validates :status, inclusion: { in: STATUSES }

  # A run is under way: no other launch, retry or retirement may start.
  def busy? = BUSY.include?(status)

  # A run is under way but has reported nothing for STALL_AFTER: it was probably interrupted.
  def stalled? = busy? && updated_at < STALL_AFTER.ago

  # The last launch failed or was interrupted, or the tenant was retired: customer service may
  # launch it again.
  def relaunchable?
    status == "retired" || (operation != "destroy" && (status == "failed" || stalled?))
  end

  # Can be retired (a failed or interrupted retirement can be retried too).
  def retirable? = %w[launched failed].include?(status) || (stalled? && operation == "destroy")

  # The blueprint variables this tenant launches with.
  def provisio_vars = { domain: domain, size: size }

  # Moves to `status` for `operation` unless a run is under way (and not stalled); true when it
  # did. The update is one conditional UPDATE, so two clicks (or two back-office users) start
  # one job.
  def start!(status, operation)
    startable = self.class.where.not(status: BUSY).or(self.class.where(updated_at: ...STALL_AFTER.ago))
    updated = startable.where(id: id)
                       .update_all(status: status, operation: operation, error_message: nil, updated_at: Time.current)
    reload
    updated == 1
  end

  def to_param = name

  private

  def normalize
    self.name = name.to_s.strip.downcase.presence
    self.domain = domain.to_s.strip.downcase.delete_suffix(".").presence
  end
end
