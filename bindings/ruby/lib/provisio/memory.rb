# frozen_string_literal: true

module Provisio
  # The memory providers' world: #inventory, #retired, #faults, and a provider per capability.
  class MemoryCloud
    # A new, empty world seeded with `seed`.
    def self.new(seed: 7) = __new(seed)
  end

  # Fault injection and call accounting shared by every memory provider of a world.
  # Operations are named like `dns.ensure_record`, `dns.*` or `*`.
  class Faults
    # Fails each matching call with probability `rate`, before it has any effect.
    def error_rate(operation, rate, kind = :transient, retry_after: nil)
      __inject("error_rate", { operation: operation, rate: rate, kind: kind, retry_after: retry_after })
    end

    # Fails the `n`-th call (from 1) of each matching operation, before it has any effect.
    def error_on_call(operation, n, kind = :transient, retry_after: nil)
      __inject("error_on_call", { operation: operation, n: n, kind: kind, retry_after: retry_after })
    end

    # Lets the `n`-th call take effect, then fails it (a lost response).
    def error_after_effect(operation, n, kind = :transient, retry_after: nil)
      __inject("error_after_effect", { operation: operation, n: n, kind: kind, retry_after: retry_after })
    end

    # Like #error_after_effect, for each call with probability `rate`.
    def error_rate_after_effect(operation, rate, kind = :transient, retry_after: nil)
      __inject("error_rate_after_effect", { operation: operation, rate: rate, kind: kind, retry_after: retry_after })
    end

    # Delays every matching call by `seconds`, or by a seeded uniform delay up to `max_seconds`.
    def latency(operation, seconds, max_seconds: nil)
      __inject("latency", { operation: operation, seconds: seconds, max_seconds: max_seconds })
    end

    # At most `requests` calls per `per_seconds` on provider account `account` (see a
    # provider's `info[:account]`); calls over it fail with RateLimitedError.
    def rate_limit(account, requests, per_seconds)
      __inject("rate_limit", { account: account, requests: requests, per_seconds: per_seconds })
    end

    # How many calls matched `operation`.
    def calls(operation = "*") = __calls(operation.to_s)
    # How many calls matching `operation` changed state.
    def mutations(operation = "*") = __mutations(operation.to_s)
  end

  class Providers
    # Memory providers for every capability, seeded with `seed`, holding `fixtures` (a path to
    # a fixtures file, or the same as a Hash) and, with `persist`, kept in that JSON file.
    # `calls` is the provider file's `[calls]` section as a Hash (how direct calls retry and
    # time out): `{retry: {max_attempts: 1}}` turns retries off.
    def self.memory(seed: 7, fixtures: nil, persist: nil, calls: nil)
      __memory({ seed: seed, fixtures: fixtures, persist: persist, calls: calls })
    end
  end
end

module Provisio
  # One provider of `kind` with the kind's provider-config settings as keywords, for scripts
  # that call operations directly: `Provisio.dns(kind: "cloudflare", zone_id: "...")`,
  # `Provisio.database(kind: "postgres", url: "postgres://...")`.
  %i[dns storage compute ci secrets database repo mail].each do |capability|
    define_singleton_method(capability) do |kind: "memory", **settings|
      Providers.new({ providers: { capability => { default: { kind: kind, **settings } } } }).public_send(capability)
    end
  end
end
