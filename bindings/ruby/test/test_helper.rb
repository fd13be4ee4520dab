# frozen_string_literal: true

require "minitest/autorun"
require "timeout"
require "tmpdir"
require "provisio"
require "provisio/testing"

# Shared by the test files: the launch example and its secret.
module LaunchExample
  BLUEPRINT = Provisio::Testing::LAUNCH_BLUEPRINT
  FIXTURES = Provisio::Testing::LAUNCH_FIXTURES
  SMTP = { smtp_password: "smtp-credential-7731" }.freeze
  RESOURCES = 21
end
