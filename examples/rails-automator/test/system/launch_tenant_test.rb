# frozen_string_literal: true

require "application_system_test_case"

# Customer service's whole path in a real browser (headless Chromium): a form with a mistake,
# the fix, the launch running in the background (Active Job's async adapter, in this process)
# on the memory providers, the outputs, then the retirement.
class LaunchTenantTest < ApplicationSystemTestCase
  # The background job runs on its own thread and connection: the test's rows must be
  # committed for it to see them.
  self.use_transactional_tests = false

  setup do
    Capybara.default_max_wait_time = 60
  end

  teardown do
    TenantStep.delete_all
    Tenant.delete_all
  end

  test "launch a tenant from the form, see its outputs, retire it" do
    visit root_path
    click_on "Launch a new tenant"

    fill_in "Name", with: "Globex Corp"
    fill_in "DNS zone", with: "example.com"
    select "business", from: "Plan"
    select "medium", from: "Size"
    click_on "Launch"
    assert_text "Name may only contain lower-case letters"

    fill_in "Name", with: "globex"
    click_on "Launch"
    assert_text "Launching globex."
    # the page refreshes itself until the launch is done
    assert_selector "#status", text: "launched"
    within "#outputs" do
      assert_text "globex.example.com"
      assert_text "globex.stg.example.com"
      assert_text "globex-web"
    end
    assert_selector "#steps tbody tr", count: 21
    assert_no_text "failed"
    assert_provisio_resource "compute.instance", name: "globex-web"

    fill_in "Type globex to confirm", with: "globex"
    click_on "Retire"
    assert_selector "#status", text: "retired"
    assert_selector "#kept", text: "database"
    refute_provisio_resource "compute.instance", name: "globex-web"

    visit root_path
    assert_selector "td", text: "globex"
    assert_selector "#status", text: "retired"
  end

  test "a failing provider shows a readable error, and the retry finishes the launch" do
    provisio_cloud.faults.error_rate("secrets.*", 1.0, :permission_denied)
    visit new_tenant_path
    fill_in "Name", with: "initech"
    fill_in "DNS zone", with: "example.com"
    click_on "Launch"
    assert_selector "#status", text: "failed"
    within "#error" do
      assert_text "The launch failed."
      assert_text "permission_denied"
      assert_text "Fix the cause, then retry."
    end

    provisio_cloud.faults.clear
    click_on "Retry launch"
    assert_selector "#status", text: "launched"
    assert_no_selector "#error"
    assert_selector "#outputs", text: "initech.example.com"
  end
end
