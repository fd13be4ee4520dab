# frozen_string_literal: true

require "test_helper"

class TenantTest < ActiveSupport::TestCase
  def build(**attrs)
    Tenant.new({ name: "acme", domain: "example.com", plan: "starter", size: "small" }.merge(attrs))
  end

  test "a valid tenant" do
    assert build.valid?
  end

  test "names follow provisio's tenant-name rule" do
    %w[a 1acme acme- ac--me ac_me acme.io Acmé].each do |name|
      tenant = build(name: name)
      refute tenant.valid?, "#{name.inspect} should be refused"
      assert tenant.errors[:name].any?, "#{name.inspect}: #{tenant.errors.full_messages}"
    end
    refute build(name: "a" * 33).valid?
    assert build(name: "a1-b2").valid?
    # normalised: surrounding space and upper case are not the customer's intent
    assert_equal "acme", build(name: "  ACME ").tap(&:valid?).name
  end

  test "the model accepts exactly the names provisio accepts" do
    engine = provisio_engine
    blueprint = Rails.configuration.x.provisio.blueprint
    names = %w[ab a1 ok-name x-y-z a 1a a- a--b a_b a.b a@b] + ["a" * 32, "a" * 33, "b#{'-c' * 15}"]
    names.each do |name|
      provisio_accepts = begin
        engine.plan(blueprint, name, secrets: { smtp_password: "x" })
        true
      rescue Provisio::InvalidInputError
        false
      end
      tenant = build(name: name)
      tenant.valid?
      assert_equal provisio_accepts, tenant.errors[:name].empty?, "#{name.inspect}: provisio #{provisio_accepts}"
    end
  end

  test "domain, plan and size are checked" do
    assert_includes build(domain: "not a domain").tap(&:valid?).errors[:domain].join, "valid DNS zone"
    assert build(domain: "Example.COM.").tap(&:valid?).errors[:domain].empty?
    assert_includes build(plan: "free").tap(&:valid?).errors[:plan].join, "must be one of"
    assert_includes build(size: "huge").tap(&:valid?).errors[:size].join, "must be one of"
  end

  test "names are unique" do
    create_tenant("acme")
    assert_includes build(name: "acme").tap(&:valid?).errors[:name].join, "taken"
  end

  test "start! lets one run in at a time" do
    tenant = create_tenant("acme", status: "failed")
    assert tenant.start!("pending", "apply")
    refute tenant.start!("retiring", "destroy"), "a run is under way"
    assert_equal "pending", tenant.reload.status
    refute tenant.stalled?
    tenant.update_columns(updated_at: (Tenant::STALL_AFTER + 1.second).ago)
    assert tenant.stalled?
    assert tenant.start!("launching", "apply"), "a stalled run may be started again"
  end
end
