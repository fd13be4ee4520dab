# frozen_string_literal: true

require "provisio"

module Provisio
  # Test helpers for applications that provision with provisio, usable from Minitest and RSpec:
  #
  #   require "provisio/testing"
  #   class LaunchTest < Minitest::Test
  #     include Provisio::Testing
  #     def test_launch
  #       engine = provisio_engine(fixtures: Provisio::Testing::LAUNCH_FIXTURES)
  #       MyApp.launch(engine, "acme")
  #       assert_provisio_resource "compute.instance", name: "acme-web"
  #     end
  #   end
  #
  # RSpec: `config.include Provisio::Testing` (the assertions raise
  # Provisio::Testing::AssertionFailed, which RSpec reports as a failure).
  #
  # Each helper call memoizes per test object: #provisio_providers, #provisio_cloud,
  # #provisio_state and #provisio_engine share one world within a test.
  module Testing
    # Raised by the assertions when Minitest's #assert is not available (RSpec, plain Ruby).
    class AssertionFailed < StandardError; end

    # The repository's launch example: PROVISIO_EXAMPLE_DIR, else examples/launch-tenant of
    # the checkout this file sits in (bindings/ruby/lib/provisio/testing.rb).
    EXAMPLE_DIR = ENV.fetch("PROVISIO_EXAMPLE_DIR") { File.expand_path("../../../../examples/launch-tenant", __dir__) }
    # The launch example's blueprint.
    LAUNCH_BLUEPRINT = File.join(EXAMPLE_DIR, "blueprint.yaml")
    # The launch example's memory fixtures (the zone, the shared bucket, the umbrella jobs...).
    LAUNCH_FIXTURES = File.join(EXAMPLE_DIR, "memory-fixtures.yaml")

    # Memory providers for every capability (seed 7; `fixtures:` a path or Hash).
    def provisio_providers(seed: 7, fixtures: nil)
      @provisio_providers ||= Provisio::Providers.memory(seed: seed, fixtures: fixtures)
    end

    # The memory providers with the launch example's fixtures.
    def provisio_launch_providers
      provisio_providers(fixtures: LAUNCH_FIXTURES)
    end

    # The memory world behind #provisio_providers: #inventory, #faults, #retired.
    def provisio_cloud
      provisio_providers.cloud
    end

    # An in-memory state store.
    def provisio_state
      @provisio_state ||= Provisio::StateStore.memory
    end

    # An engine over #provisio_providers and #provisio_state (options go to Engine.new; the
    # first call decides).
    def provisio_engine(fixtures: nil, **options)
      provisio_providers(fixtures: fixtures) if fixtures
      @provisio_engine ||= Provisio::Engine.new(provisio_providers, provisio_state, **options)
    end

    # The live resources of one inventory kind (`"dns.record"`, `"secrets.secret"`, ...) as a
    # Hash id => detail.
    def provisio_inventory(kind)
      provisio_cloud.inventory.fetch(kind.to_sym, {})
    end

    # Asserts a live resource of `kind` exists: with `id`, that one; with `match`, one whose
    # detail has these values (e.g. `name: "acme-web"`). Returns its detail.
    def assert_provisio_resource(kind, id = nil, **match)
      found = provisio_find(kind, id, match)
      provisio_check(!found.nil?,
                     "expected a live #{kind} #{id || match.inspect}; live: #{provisio_inventory(kind).keys.inspect}")
      found
    end

    # Asserts no live resource of `kind` matches (`id` and/or `match`, as above).
    def refute_provisio_resource(kind, id = nil, **match)
      found = provisio_find(kind, id, match)
      provisio_check(found.nil?, "expected no live #{kind} #{id || match.inspect}")
    end

    # Asserts how many live resources of `kind` there are.
    def assert_provisio_count(kind, count)
      live = provisio_inventory(kind).size
      provisio_check(live == count, "expected #{count} live #{kind}, found #{live}")
    end

    private

    def provisio_find(kind, id, match)
      provisio_inventory(kind).each do |key, detail|
        next if id && key.to_s != id.to_s
        next unless match.all? { |k, v| detail.is_a?(Hash) && detail[k.to_sym] == v }

        return detail
      end
      nil
    end

    def provisio_check(ok, message)
      if respond_to?(:assert)
        assert(ok, message)
      elsif !ok
        raise AssertionFailed, message
      end
    end
  end
end
