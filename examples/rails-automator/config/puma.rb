# frozen_string_literal: true

# Puma serves the back office on 127.0.0.1 only (an internal tool: put it behind your SSO proxy).
max_threads_count = ENV.fetch("RAILS_MAX_THREADS", 5)
min_threads_count = ENV.fetch("RAILS_MIN_THREADS", max_threads_count)
threads min_threads_count, max_threads_count
bind "tcp://127.0.0.1:#{ENV.fetch('PORT', 3000)}"
environment ENV.fetch("RAILS_ENV", "development")
pidfile ENV.fetch("PIDFILE", "tmp/pids/server.pid")
