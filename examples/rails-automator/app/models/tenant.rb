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
  def busy? = %w[pending launching retiring].include?(status)

  # The last launch failed, or the tenant was retired: customer service may launch it again.
  def relaunchable? = status == "retired" || (status == "failed" && operation != "destroy")

  # Can be retired (a failed retirement can be retried too).
  def retirable? = %w[launched failed].include?(status)

  # The blueprint variables this tenant launches with.
  def provisio_vars = { domain: domain, size: size }

  # Moves to `status` for `operation` unless a run is under way; true when it did. The update
  # is one conditional UPDATE, so two clicks (or two back-office users) start one job.
  def start!(status, operation)
    updated = self.class.where(id: id).where.not(status: %w[pending launching retiring])
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
