# frozen_string_literal: true

require_relative "test_helper"

class TestingHelpersTest < Minitest::Test
  include Provisio::Testing

  def test_helpers_share_one_world_per_test
    assert_same provisio_providers, provisio_providers
    assert_same provisio_state, provisio_state
    assert_instance_of Provisio::StateStore, provisio_state
    assert_instance_of Provisio::MemoryCloud, provisio_cloud
    assert_instance_of Provisio::Engine, provisio_engine
    assert_same provisio_providers, provisio_engine.providers
  end

  def test_launch_fixtures_and_inventory_assertions
    provisio_launch_providers
    assert_provisio_resource "dns.zone"
    refute_provisio_resource "compute.instance"
    assert_provisio_count "compute.instance", 0
    provisio_engine.apply(LAUNCH_BLUEPRINT, "acme", secrets: { smtp_password: "x-pw" })
    detail = assert_provisio_resource "compute.instance", name: "acme-web"
    assert_equal "acme-web", detail[:name]
    assert_provisio_count "compute.instance", 1
    assert_equal 1, provisio_inventory("compute.instance").size
  end

  def test_assertions_fail_when_they_should
    provisio_providers
    assert_raises(Minitest::Assertion) { assert_provisio_resource "compute.instance", name: "ghost" }
    assert_raises(Minitest::Assertion) { assert_provisio_count "dns.zone", 3 }
  end

  # What RSpec (or any object without #assert) gets.
  class Plain
    include Provisio::Testing
  end

  def test_usable_without_minitest
    plain = Plain.new
    plain.provisio_providers
    err = assert_raises(Provisio::Testing::AssertionFailed) { plain.assert_provisio_resource "dns.zone" }
    assert_match(/dns.zone/, err.message)
  end
end
