# frozen_string_literal: true

module Provisio
  # The base class of every provisio error. Each subclass is one error kind; every error
  # carries #kind (a Symbol), #retryable?, #retry_after (Float seconds or nil) and where it
  # happened: #provider, #operation, #resource (each nil when unknown). #bare_message is the
  # message without that context; #message adds it. A failed engine run's error also carries
  # the run #report (a frozen Hash).
  #
  # Custom steps may raise these too: a TransientError is retried by the engine, a
  # NotFoundError is not.
  class Error < StandardError
    KIND = :unexpected
    RETRYABLE = false

    attr_reader :provider, :operation, :resource, :retry_after, :report

    def initialize(message = nil, provider: nil, operation: nil, resource: nil, retry_after: nil)
      @bare_message = message || self.class.name
      @provider = provider
      @operation = operation
      @resource = resource
      @retry_after = retry_after&.to_f
      @report = nil
      super(message)
    end

    # The kind as a Symbol (:not_found, :transient, ...).
    def kind
      self.class::KIND
    end

    # Whether simply retrying may succeed.
    def retryable?
      self.class::RETRYABLE
    end

    # The message without provider/operation/resource context.
    def bare_message
      @bare_message
    end

    # Builds the exception for a native error (called by the extension).
    def self.from_native(kind, message, full, provider, operation, resource, retry_after)
      klass = KINDS.fetch(kind.to_sym, UnexpectedError)
      err = klass.new(full, provider: provider, operation: operation, resource: resource,
                            retry_after: retry_after)
      err.instance_variable_set(:@bare_message, message)
      err
    end
  end

  # The resource does not exist.
  class NotFoundError < Error; KIND = :not_found; end
  # A resource with this identity exists with other settings.
  class AlreadyExistsError < Error; KIND = :already_exists; end
  # The request conflicts with the resource's current state.
  class ConflictError < Error; KIND = :conflict; end
  # A name, parameter or document failed validation.
  class InvalidInputError < Error; KIND = :invalid_input; end
  # The caller is authenticated but not allowed to do this.
  class PermissionDeniedError < Error; KIND = :permission_denied; end
  # The credentials are missing, wrong or expired.
  class UnauthenticatedError < Error; KIND = :unauthenticated; end
  # The provider throttled the caller; #retry_after is its hint in seconds, if any.
  class RateLimitedError < Error; KIND = :rate_limited; RETRYABLE = true; end
  # A temporary failure that may succeed when retried.
  class TransientError < Error; KIND = :transient; RETRYABLE = true; end
  # An operation ran out of time (not Ruby's Timeout::Error, which interrupts a call).
  class TimeoutError < Error; KIND = :timeout; RETRYABLE = true; end
  # The resource is protected (deletion protection, a confirmation that did not match).
  class ProtectedError < Error; KIND = :protected; end
  # The provider does not support this.
  class UnsupportedError < Error; KIND = :unsupported; end
  # The operation was cancelled.
  class CancelledError < Error; KIND = :cancelled; end
  # A bug or an unexpected response.
  class UnexpectedError < Error; KIND = :unexpected; end

  class Error
    # Kind Symbol => class.
    KINDS = [NotFoundError, AlreadyExistsError, ConflictError, InvalidInputError,
             PermissionDeniedError, UnauthenticatedError, RateLimitedError, TransientError,
             TimeoutError, ProtectedError, UnsupportedError, CancelledError,
             UnexpectedError].to_h { |c| [c::KIND, c] }.freeze
  end
end
