# frozen_string_literal: true

module Provisio
  # A secret value that never shows itself: #inspect and #to_s are redacted, Marshal is
  # refused. #reveal returns the value (make every read visible in review).
  class Secret
    REDACTED = "***redacted***"

    def initialize(value)
      raise TypeError, "a Provisio::Secret holds a String, not #{value.class}" unless value.is_a?(String)

      @value = value.dup.freeze
      freeze
    end

    # The secret value. Never log it, put it in an error, or store it.
    def reveal
      @value
    end

    def to_s
      REDACTED
    end

    def inspect
      "#<Provisio::Secret #{REDACTED}>"
    end

    def pretty_print(pp)
      pp.text(inspect)
    end

    def ==(other)
      other.is_a?(Secret) && other.reveal == @value
    end
    alias eql? ==

    def hash
      [Secret, @value].hash
    end

    def to_json(*)
      REDACTED.to_json
    end

    def instance_variables
      []
    end

    def _dump(_level)
      raise TypeError, "a Provisio::Secret cannot be marshalled"
    end

    def marshal_dump
      raise TypeError, "a Provisio::Secret cannot be marshalled"
    end
  end
end
