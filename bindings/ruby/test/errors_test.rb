# frozen_string_literal: true

require_relative "test_helper"

class ErrorsTest < Minitest::Test
  include Provisio::Testing

  KINDS = {
    Provisio::NotFoundError => [:not_found, false],
    Provisio::AlreadyExistsError => [:already_exists, false],
    Provisio::ConflictError => [:conflict, false],
    Provisio::InvalidInputError => [:invalid_input, false],
    Provisio::PermissionDeniedError => [:permission_denied, false],
    Provisio::UnauthenticatedError => [:unauthenticated, false],
    Provisio::RateLimitedError => [:rate_limited, true],
    Provisio::TransientError => [:transient, true],
    Provisio::TimeoutError => [:timeout, true],
    Provisio::ProtectedError => [:protected, false],
    Provisio::UnsupportedError => [:unsupported, false],
    Provisio::CancelledError => [:cancelled, false],
    Provisio::UnexpectedError => [:unexpected, false]
  }.freeze

  def test_one_class_per_kind
    KINDS.each do |klass, (kind, retryable)|
      assert_operator klass, :<, Provisio::Error
      err = klass.new("x")
      assert_equal kind, err.kind
      assert_equal retryable, err.retryable?
      assert_same klass, Provisio::Error::KINDS[kind]
    end
    assert_operator Provisio::Error, :<, StandardError
    assert_equal 13, Provisio::Error::KINDS.size
  end

  def test_native_errors_carry_context
    err = assert_raises(Provisio::NotFoundError) { provisio_providers.storage.get_object("no-such-bucket", "k") }
    assert_equal :not_found, err.kind
    refute err.retryable?
    assert_nil err.retry_after
    assert_equal "storage.get_object", err.operation
    assert_kind_of String, err.provider
    assert_match(/no-such-bucket/, err.message)
  end

  def test_rate_limited_carries_retry_after
    providers = Provisio::Providers.memory(calls: { retry: { max_attempts: 1 } })
    providers.cloud.faults.error_on_call("dns.find_zone", 1, :rate_limited, retry_after: 2.5)
    err = assert_raises(Provisio::RateLimitedError) { providers.dns.find_zone("example.com") }
    assert err.retryable?
    assert_in_delta 2.5, err.retry_after, 0.001
  end

  def test_secret_is_redacted
    secret = Provisio::Secret.new("t0p-s3cret")
    assert_equal "t0p-s3cret", secret.reveal
    refute_includes secret.inspect, "t0p-s3cret"
    refute_includes secret.to_s, "t0p-s3cret"
    refute_includes "#{secret}", "t0p-s3cret"
    refute_includes [secret].inspect, "t0p-s3cret"
    refute_includes({ k: secret }.inspect, "t0p-s3cret")
    assert_raises(TypeError) { Marshal.dump(secret) }
    assert_raises(TypeError) { Provisio::Secret.new(42) }
    assert secret.frozen?
  end

  def test_secrets_stay_out_of_error_messages
    engine = provisio_engine(fixtures: LaunchExample::FIXTURES)
    provisio_cloud.faults.error_rate("secrets.create_secret", 1.0, :permission_denied)
    err = assert_raises(Provisio::PermissionDeniedError) do
      engine.apply(LaunchExample::BLUEPRINT, "acme", secrets: { smtp_password: "n3ver-sh0wn" })
    end
    refute_includes err.message, "n3ver-sh0wn"
    refute_includes err.report.inspect, "n3ver-sh0wn"
    refute_includes err.full_message, "n3ver-sh0wn"
  end

  def test_a_secret_is_refused_where_plain_data_is_expected
    err = assert_raises(TypeError) do
      provisio_providers.mail.ensure_identity("a.example.com", tags: { k: Provisio::Secret.new("zz-hidden") })
    end
    assert_match(/tags/, err.message)
    refute_includes err.message, "zz-hidden"
  end

  def test_bad_arguments_name_the_argument
    dns = provisio_providers.dns
    err = assert_raises(TypeError) { dns.find_zone(42) }
    assert_match(/name/, err.message)
    err = assert_raises(TypeError) { dns.ensure_record("example.com", "a.example.com", "A", "192.0.2.1", ttl: "soon") }
    assert_match(/ttl/, err.message)
    assert_raises(ArgumentError) { dns.ensure_record("example.com", "a.example.com", "A") }
    err = assert_raises(ArgumentError) { dns.ensure_record("example.com", "a", "A", "1.2.3.4", tll: 3) }
    assert_match(/tll/, err.message)
    err = assert_raises(TypeError) { provisio_providers.storage.put_object("bucket-x", "k", 12) }
    assert_match(/body/, err.message)
    err = assert_raises(TypeError) { provisio_providers.secrets.put_secret("n", 12) }
    assert_match(/value/, err.message)
    err = assert_raises(ArgumentError) { provisio_providers.compute.wait_for_state("i-1", :running, timeout: -1) }
    assert_match(/timeout/, err.message)
    err = assert_raises(TypeError) { Provisio::Engine.new(:nope) }
    assert_match(/providers/, err.message)
    engine = Provisio::Engine.new(provisio_providers)
    err = assert_raises(TypeError) { engine.apply(42, "acme") }
    assert_match(/blueprint/, err.message)
    err = assert_raises(TypeError) { engine.plan(LaunchExample::BLUEPRINT, 42) }
    assert_match(/tenant/, err.message)
    err = assert_raises(TypeError) { engine.plan(LaunchExample::BLUEPRINT, "acme", secrets: { smtp_password: 1 }) }
    assert_match(/secrets\[:smtp_password\]/, err.message)
    err = assert_raises(TypeError) { Provisio::Engine.new(provisio_providers, 42) }
    assert_match(/state/, err.message)
    err = assert_raises(TypeError) { Provisio::Providers.new(42) }
    assert_match(/config/, err.message)
  end

  def test_a_rust_panic_becomes_a_ruby_exception
    err = assert_raises(Provisio::UnexpectedError) { Provisio.__panic }
    assert_match(/panicked/, err.message)
  end

  def test_invalid_provider_config_is_invalid_input
    assert_raises(Provisio::InvalidInputError) { Provisio::Providers.new({ fallback: "no-such-kind" }) }
  end
end
