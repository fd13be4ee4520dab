# frozen_string_literal: true

# Base class of the app's background jobs.
class ApplicationJob < ActiveJob::Base
end
