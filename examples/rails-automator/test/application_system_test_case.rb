# frozen_string_literal: true

require "test_helper"

# System tests drive the app in headless Chromium (Debian's chromium and chromium-driver).
class ApplicationSystemTestCase < ActionDispatch::SystemTestCase
  driven_by :selenium, using: :headless_chrome, screen_size: [1280, 1024] do |options|
    # root in a container: Chromium's sandbox needs user namespaces it may not have
    options.add_argument("--no-sandbox")
    options.add_argument("--disable-dev-shm-usage")
    options.add_argument("--disable-gpu")
    options.binary = ENV["CHROME_BIN"] if ENV["CHROME_BIN"]
  end
end
