# frozen_string_literal: true

require_relative "boot"

require "rails"
require "active_model/railtie"
require "active_job/railtie"
require "active_record/railtie"
require "action_controller/railtie"
require "action_view/railtie"
require "rails/test_unit/railtie"

Bundler.require(*Rails.groups)

# A staged build of the provisio gem (see the Gemfile).
if (staged = ENV.fetch("PROVISIO_RUBY_LIB", nil))
  $LOAD_PATH.unshift(staged)
  require "provisio"
end

module Automator
  # The back office customer service uses to launch and retire SaaS tenants with provisio.
  class Application < Rails::Application
    config.load_defaults 6.1
    config.time_zone = "UTC"
    # Launches and retirements run in the background, in this process (no extra service to
    # run); a larger deployment sets another Active Job backend (Sidekiq, ...).
    config.active_job.queue_adapter = :async
    # What the Provisioner uses (see app/services/provisioner.rb and README.md):
    # - the launch example's blueprint and memory fixtures;
    example = ENV.fetch("PROVISIO_EXAMPLE_DIR") { File.expand_path("../../launch-tenant", __dir__) }
    config.x.provisio.blueprint = File.join(example, "blueprint.yaml")
    config.x.provisio.fixtures = File.join(example, "memory-fixtures.yaml")
    # - a provider file for real providers (unset: memory providers, kept in storage/);
    config.x.provisio.providers_file = ENV.fetch("PROVISIO_PROVIDERS", nil)
    # - the state store: a SQLite file in storage/ or a postgres:// URL.
    config.x.provisio.state = ENV.fetch("PROVISIO_STATE") { Rails.root.join("storage", "provisio-#{Rails.env}.sqlite").to_s }
    # How often a tenant's page reloads itself while a run is under way (0: never).
    config.x.automator.refresh_seconds = Integer(ENV.fetch("AUTOMATOR_REFRESH_SECONDS", 1))
  end
end
