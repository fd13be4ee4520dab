# frozen_string_literal: true

module Provisio
  # The provisioning engine. Runs wait with the GVL released (other Ruby threads keep
  # running); a block given to a run receives its events (frozen Hashes) on the calling
  # thread. Timeout.timeout, Thread#raise and Ctrl-C stop a run cleanly: the run is
  # cancelled, its journal written, and the exception raised once it has stopped; the next
  # apply resumes.
  class Engine
    # An engine over `providers` with a state store (`Provisio::StateStore`, `:memory`, a
    # SQLite path or a PostgreSQL URL; default: in memory) and custom `steps` (see
    # Provisio::Step).
    def self.new(providers, state = nil, steps: [], concurrency: 16, step_timeout: 600.0,
                 lock_owner: nil, lock_ttl: 60.0, retry_policy: nil)
      raise TypeError, "providers: expected a Provisio::Providers, not #{providers.class}" unless providers.is_a?(Providers)
      raise TypeError, "steps: expected an Array of steps" unless steps.is_a?(Array)

      engine = __new(providers, state, steps,
                     { concurrency: concurrency, step_timeout: step_timeout, lock_owner: lock_owner,
                       lock_ttl: lock_ttl, retry: retry_policy })
      engine.instance_variable_set(:@providers, providers)
      engine
    end

    # The providers this engine runs on.
    attr_reader :providers

    # Plans an apply (no changes, no lease): `{tenant:, blueprint:, resources: [...], counts:, has_changes:}`.
    def plan(blueprint, tenant, vars: nil, secrets: nil, refresh: false, allow: nil, &block)
      __run("plan", { blueprint: blueprint, tenant: tenant, vars: vars, secrets: secrets, refresh: refresh,
                      allow: allow }, &block)
    end

    # Creates, updates and deletes the tenant's resources to match the blueprint. Returns the
    # run report; a failed run raises its first error (with #report) unless `check: false`.
    def apply(blueprint, tenant, vars: nil, secrets: nil, keep_partial: false, allow: nil, refresh: false,
              lock_wait: nil, check: true, &block)
      __run("apply", { blueprint: blueprint, tenant: tenant, vars: vars, secrets: secrets,
                       keep_partial: keep_partial, allow: allow, refresh: refresh, lock_wait: lock_wait,
                       check: check }, &block)
    end

    # Deletes every resource of the tenant (protected ones only when named in `allow`).
    def destroy(blueprint, tenant, allow: nil, lock_wait: nil, check: true, &block)
      __run("destroy", { blueprint: blueprint, tenant: tenant, allow: allow, lock_wait: lock_wait,
                         check: check }, &block)
    end

    # Reads every resource in state and reports drift (`write: true` records what it read).
    def refresh(blueprint, tenant, vars: nil, secrets: nil, write: false, lock_wait: nil, &block)
      __run("refresh", { blueprint: blueprint, tenant: tenant, vars: vars, secrets: secrets, write: write,
                         lock_wait: lock_wait }, &block)
    end

    # The lifecycle transitions, by name (docs/lifecycle.md).
    TRANSITIONS = %i[suspend resume archive restore retire].freeze

    # Moves the tenant through a lifecycle transition (`:suspend`, `:resume`, `:archive`,
    # `:restore`, `:retire`): its resources become what the blueprint declares for the target
    # phase. Planned, journaled and resumable like `apply`; a failed transition is not rolled
    # back, and running it again finishes it. Returns the run report; a failed run raises its
    # first error (with `report`) unless `check: false`. An illegal transition raises
    # `Provisio::ConflictError`, an unknown tenant `Provisio::NotFoundError`, before any side
    # effect.
    def transition(blueprint, tenant, transition, vars: nil, secrets: nil, allow: nil, lock_wait: nil, check: true,
                   &block)
      __run("transition", { blueprint: blueprint, tenant: tenant, transition: transition_name(transition),
                            vars: vars, secrets: secrets, allow: allow, lock_wait: lock_wait, check: check }, &block)
    end

    TRANSITIONS.each do |name|
      define_method(name) do |blueprint, tenant, **options, &block|
        transition(blueprint, tenant, name, **options, &block)
      end
    end

    # What a lifecycle transition would do (no changes, no lease), in the form `plan` returns.
    def plan_transition(blueprint, tenant, transition, vars: nil, secrets: nil, allow: nil)
      __run("plan_transition", { blueprint: blueprint, tenant: tenant, transition: transition_name(transition),
                                 vars: vars, secrets: secrets, allow: allow })
    end

    # The tenant's lifecycle phase (`{phase:, transition:, run_id:, updated_at_ms:, tenant:}`;
    # `transition` is the one under way), or nil for a tenant the state store does not know.
    def phase(tenant)
      __run("phase", { tenant: tenant })
    end

    # The outputs of every resource of the tenant, by resource name (never a secret value).
    def outputs(tenant)
      __run("outputs", { tenant: tenant })
    end

    private def transition_name(transition)
      name = transition.is_a?(String) ? transition.to_sym : transition
      unless TRANSITIONS.include?(name)
        raise ArgumentError, "transition: #{transition.inspect} is not one of #{TRANSITIONS.join(', ')}"
      end

      name.to_s
    end

    # Applies (or with `destroy: true`, destroys) the blueprint for many tenants: bounded
    # concurrency, a canary wave, a failure threshold (`max_failures` tenants, or the fraction
    # `max_failure_ratio`; `max_failures: nil` never halts) and a resumable cursor under
    # `fleet_id`. The block gets the fleet's events and every tenant's run events.
    def fleet(blueprint, tenants, fleet_id:, destroy: false, concurrency: 8, canary: 0, max_failures: 1,
              max_failure_ratio: nil, &block)
      __run("fleet", { blueprint: blueprint, tenants: tenants, fleet_id: fleet_id, destroy: destroy,
                       concurrency: concurrency, canary: canary, max_failures: max_failures,
                       max_failure_ratio: max_failure_ratio }, &block)
    end

    def inspect
      "#<Provisio::Engine #{@providers.inspect}>"
    end
  end

  # What a custom step's methods get as `ctx`: the tenant, its plain vars and secret vars
  # (Provisio::Secret values), the blueprint and resource names, the provider name, the
  # ownership tags and an idempotency token stable across retries.
  StepContext = Struct.new(:tenant, :vars, :secrets, :blueprint, :resource, :provider, :ownership,
                           :idempotency_token, keyword_init: true) do
    def inspect
      "#<Provisio::StepContext tenant=#{tenant.inspect} resource=#{resource.inspect}>"
    end
  end

  # Base class of custom steps (any object with the same methods will do): a resource type
  # whose operations are Ruby methods, run on the thread that started the run. Set #name (the
  # blueprint `type:`, e.g. "acme.welcome_mail") and #outputs, implement #apply. #apply must be
  # idempotent; it returns the outputs (a Hash; the outcome is inferred: created without
  # `prior`, unchanged when equal to `prior`, else updated) or `[outputs, outcome]`. Raise a
  # Provisio::Error subclass to fail with its kind (TransientError is retried).
  class Step
    # The blueprint type name.
    def name
      raise NotImplementedError, "#{self.class} must define #name"
    end

    # The output keys.
    def outputs = []
    # Parameters whose change replaces the resource.
    def replace_fields = []

    # The resource's deterministic identity (default: type, tenant and resource name).
    def identity(ctx, _params)
      "#{name} #{ctx.tenant}/#{ctx.resource}"
    end

    # The resource's outputs as it exists now, or nil when gone (default: what state recorded).
    def read(_ctx, _params, prior)
      prior
    end

    # Creates the resource or brings it to `params`; returns its outputs.
    def apply(_ctx, _params, _prior)
      raise NotImplementedError, "step #{name} does not implement apply"
    end

    # Deletes the resource; return false when it was already gone.
    def delete(_ctx, _params, _outputs)
      true
    end

    # Runs one method of a step (called by the extension on the thread that started the run)
    # and normalizes its result to plain data.
    def self.__invoke(step, method, ctx, secrets, *args)
      context = StepContext.new(**ctx.merge(secrets: secrets)).freeze
      case method
      when :apply
        prior = args[1]
        value = step.apply(context, *args)
        outcome = nil
        value, outcome = value if value.is_a?(Array)
        outputs = (value || {}).to_h
        outcome ||= if prior.nil? then "created"
                    elsif symbolize(prior) == symbolize(outputs) then "unchanged"
                    else "updated"
                    end
        { outputs: outputs, outcome: outcome.to_s }
      when :delete
        value = step.respond_to?(:delete) ? step.delete(context, *args) : true
        value == false || value.to_s == "already_gone" ? "already_gone" : "deleted"
      when :read
        value = step.respond_to?(:read) ? step.read(context, *args) : args[1]
        value&.to_h
      when :identity
        step.identity(context, *args).to_s
      else
        raise ArgumentError, "unknown step method #{method}"
      end
    end

    def self.symbolize(value)
      case value
      when Hash then value.to_h { |k, v| [k.to_sym, symbolize(v)] }
      when Array then value.map { |v| symbolize(v) }
      else value
      end
    end
  end
end
