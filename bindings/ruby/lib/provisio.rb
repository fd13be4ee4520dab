# frozen_string_literal: true

# provisio from Ruby: providers for every capability, the provisioning engine, memory providers
# for tests. See docs/ruby.md.
#
#   require "provisio"
#   providers = Provisio::Providers.memory(fixtures: "examples/launch-tenant/memory-fixtures.yaml")
#   engine = Provisio::Engine.new(providers, "state.db")
#   report = engine.apply("examples/launch-tenant/blueprint.yaml", "acme",
#                         secrets: { smtp_password: "s3cret" }) { |event| puts event[:type] }
module Provisio
end

require_relative "provisio/version"
require_relative "provisio/secret"
require_relative "provisio/error"
begin
  require_relative "provisio/provisio" # the native extension, next to this file
rescue LoadError
  require "provisio/provisio" # or in the gem's extension directory
end
require_relative "provisio/services"
require_relative "provisio/memory"
require_relative "provisio/engine"
