# frozen_string_literal: true

require "minitest/autorun"
require "timeout"
require "tmpdir"
# The launch example of this checkout, wherever the library is loaded from (scripts/test.sh
# stages it outside the checkout).
ENV["PROVISIO_EXAMPLE_DIR"] ||= File.expand_path("../../../examples/launch-tenant", __dir__)
require "provisio"
require "provisio/testing"

# Shared by the test files: the launch example and its secret.
module LaunchExample
  BLUEPRINT = Provisio::Testing::LAUNCH_BLUEPRINT
  FIXTURES = Provisio::Testing::LAUNCH_FIXTURES
  SMTP = { smtp_password: "smtp-credential-7731" }.freeze
  RESOURCES = 24
end
