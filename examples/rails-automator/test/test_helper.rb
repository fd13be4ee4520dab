# frozen_string_literal: true

ENV["RAILS_ENV"] ||= "test"
# The SMTP password a launch hands to the tenant; a real deployment keeps it in the Rails
# credentials (or the environment), never in a form.
ENV["AUTOMATOR_SMTP_PASSWORD"] ||= "smtp-test-credential-5518"
# The launch example Provisio::Testing's LAUNCH_* constants point at: this checkout's.
ENV["PROVISIO_EXAMPLE_DIR"] ||= File.expand_path("../../launch-tenant", __dir__)
require_relative "../config/environment"
require "rails/test_help"
require "provisio/testing"

module ActiveSupport
  class TestCase
    # Each test gets fresh memory providers (with the launch example's fixtures) and an
    # in-memory state store from Provisio::Testing, and the app's Provisioner uses them: the
    # assertions below read what the app provisioned from the memory world's inventory.
    include Provisio::Testing

    setup do
      Provisioner.use(providers: provisio_launch_providers, state: provisio_state)
    end

    SMTP_PASSWORD = ENV.fetch("AUTOMATOR_SMTP_PASSWORD")

    # A valid tenant, saved.
    def create_tenant(name = "acme", **attrs)
      Tenant.create!(name: name, domain: "example.com", plan: "starter", size: "small", status: "pending",
                     operation: "apply", **attrs)
    end
  end
end
