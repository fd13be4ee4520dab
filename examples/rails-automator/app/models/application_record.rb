# frozen_string_literal: true

# Base class of the app's models.
class ApplicationRecord < ActiveRecord::Base
  self.abstract_class = true
end
