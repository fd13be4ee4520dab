# frozen_string_literal: true

# Base controller of the back office.
class ApplicationController < ActionController::Base
end
