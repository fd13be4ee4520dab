# frozen_string_literal: true

require "application_system_test_case"

# Customer service's whole path in a real browser (headless Chromium): a form with a mistake,
# the fix, the launch running in the background (Active Job's async adapter, in this process)
# on the memory providers, the outputs, then the retirement.
class LaunchTenantTest < ApplicationSystemTestCase
  # The background job runs on its own thread and connection: the test's rows must be
  # committed for it to see them.
  self.use_transactional_tests = false

  # The page's own reload (a meta refresh every second while a run is under way) would replace
  # the document under the browser's feet, which chromedriver reports as an unknown error
  # instead of a stale element; the tests reload it themselves (#wait_for_status) instead.
  setup do
    Capybara.default_max_wait_time = 10
    @refresh = Rails.configuration.x.automator.refresh_seconds
    Rails.configuration.x.automator.refresh_seconds = 0
  end

  teardown do
    Rails.configuration.x.automator.refresh_seconds = @refresh
    TenantStep.delete_all
    Tenant.delete_all
  end

  # Reloads the tenant page until its status is `status` (the launch runs in the background).
  def wait_for_status(status, timeout: 60)
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
    until page.has_selector?("#status", exact_text: status, wait: 0)
      if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
        flunk "the tenant is #{page.find('#status').text}, not #{status}, after #{timeout} s"
      end
      sleep 0.25
      visit current_path
    end
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
    wait_for_status "launched"
    within "#outputs" do
      assert_text "globex.example.com"
      assert_text "globex.stg.example.com"
      assert_text "globex-web"
    end
    assert_selector "#steps tbody tr", count: 24
    assert_no_text "failed"
    assert_provisio_resource "compute.instance", name: "globex-web"

    fill_in "Type globex to confirm", with: "globex"
    click_on "Retire"
    wait_for_status "retired"
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
    wait_for_status "failed"
    within "#error" do
      assert_text "The launch failed."
      assert_text "permission_denied"
      assert_text "Fix the cause, then retry."
    end

    provisio_cloud.faults.clear
    click_on "Retry launch"
    wait_for_status "launched"
    assert_no_selector "#error"
    assert_selector "#outputs", text: "initech.example.com"
  end
end
