# frozen_string_literal: true

require_relative "lib/provisio/version"

# `gem build provisio.gemspec` from a provisio checkout, then `gem install provisio-*.gem`:
# the extension is built by cargo from this checkout (see ext/provisio/extconf.rb).
workspace = File.expand_path("../..", __dir__)
if File.exist?(File.join(workspace, "Cargo.toml"))
  File.write(File.join(__dir__, "ext", "provisio", "workspace"), "#{workspace}\n")
end

Gem::Specification.new do |spec|
  spec.name = "provisio"
  spec.version = Provisio::VERSION
  spec.summary = "Provision tenants from Ruby: DNS, storage, compute, CI, secrets, databases, repos, mail"
  spec.description = "The Ruby binding of provisio (a Rust provisioning library): providers for every " \
                     "capability, the plan/apply engine with events and custom steps, memory providers for tests."
  spec.authors = ["provisio contributors"]
  spec.license = "Apache-2.0"
  spec.homepage = "https://example.invalid/provisio"
  spec.required_ruby_version = ">= 3.1"
  spec.files = Dir["lib/**/*.rb"] + Dir["ext/provisio/{extconf.rb,workspace}"] + ["provisio.gemspec"]
  spec.require_paths = ["lib"]
  spec.extensions = ["ext/provisio/extconf.rb"]
end
