# frozen_string_literal: true

# The app's one door to provisio: the providers, the state store and the engine, built once per
# process and shared by every job thread (provisio's engine is thread-safe and releases the GVL
# while it works; two runs on one tenant are kept apart by provisio's tenant lock).
#
# Configuration (config/application.rb, from the environment):
# - PROVISIO_PROVIDERS: a provider file for real providers; unset, the memory providers with the
#   launch example's fixtures, kept in storage/provisio-memory-<env>.json across restarts;
# - PROVISIO_STATE: the state store (a SQLite path or a postgres:// URL);
# - the SMTP password handed to each tenant: Rails credentials `provisio.smtp_password`, else
#   AUTOMATOR_SMTP_PASSWORD. It never goes through a form, a job argument or the database.
class Provisioner
  # The tenant resources a retirement only deletes when customer service asks for it.
  PROTECTED = %w[database].freeze

  # The configuration lacks something a run needs (the message says what).
  class NotConfigured < StandardError; end

  MUTEX = Mutex.new
  private_constant :MUTEX

  class << self
    # The process's provisioner.
    def instance
      MUTEX.synchronize { @instance ||= new }
    end

    # Replaces the process's provisioner (tests hand in memory providers and state, and may
    # pass Provisio::Engine options such as `retry_policy:`).
    def use(providers:, state: :memory, **engine_options)
      MUTEX.synchronize { @instance = new(providers: providers, state: state, **engine_options) }
    end

    # The SMTP password, from Rails credentials or the environment.
    def smtp_password
      Rails.application.credentials.dig(:provisio, :smtp_password).presence ||
        ENV["AUTOMATOR_SMTP_PASSWORD"].presence ||
        raise(NotConfigured, "no SMTP password: set provisio.smtp_password in the Rails credentials " \
                             "or AUTOMATOR_SMTP_PASSWORD in the environment")
    end

    # A failed run as customer service reads it: which step, what went wrong, whether trying
    # again may help. Never holds a secret (provisio's errors do not carry secret values).
    def describe(error)
      return error.message unless error.is_a?(Provisio::Error)

      failed = error.report ? error.report[:errors].map { |e| e[:resource] } : []
      where = failed.first ? "Step #{failed.first}" : "The run"
      text = "#{where} failed: #{error.message}"
      text += " (#{failed.size - 1} more steps failed too)" if failed.size > 1
      text + (error.retryable? ? ". This looks temporary: retry." : ". Fix the cause, then retry.")
    end
  end

  attr_reader :providers, :engine

  def initialize(providers: nil, state: nil, config: Rails.configuration.x.provisio, **engine_options)
    @config = config
    @providers = providers || build_providers
    @engine = Provisio::Engine.new(@providers, state || Provisio::StateStore.open(config.state), **engine_options)
  end

  # Launches (or completes, or updates) `tenant`; yields each event. Returns the run report,
  # raises Provisio::Error (with #report) when the run fails.
  def launch(tenant, &on_event)
    secrets = { smtp_password: self.class.smtp_password }
    engine.apply(@config.blueprint, tenant.name, vars: tenant.provisio_vars, secrets: secrets, &on_event)
  end

  # Destroys `tenant`'s resources; the database only with `drop_database`.
  def retire(tenant, drop_database: false, &on_event)
    engine.destroy(@config.blueprint, tenant.name, allow: drop_database ? PROTECTED : nil, &on_event)
  end

  # The recorded outputs of `tenant`'s resources (secret-free).
  def outputs(tenant) = engine.outputs(tenant.name)

  private

  def build_providers
    return Provisio::Providers.new(@config.providers_file) if @config.providers_file.present?

    persist = Rails.root.join("storage", "provisio-memory-#{Rails.env}.json").to_s
    Provisio::Providers.memory(fixtures: @config.fixtures, persist: persist)
  end
end
