# frozen_string_literal: true

# One resource of a tenant's last run, as its events reported it.
class TenantStep < ApplicationRecord
  belongs_to :tenant

  validates :resource, presence: true
end
